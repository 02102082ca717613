{#-
    Customer identity (docs/crm.md, "Customer identity"): connected components of the graph
    contact <-> customer key, computed by the pre-hook of int_customers__resolved.

    A component's label is the smallest key of its earliest contact (by created_at, then
    contact id): stable when later contacts join the customer, so a new month relabels only
    customers it merges.

    Full build: every valid contact is a node. Incremental build: the graph holds only
    - the redone contacts (the valid contacts of the redone deliveries; the stored contacts
      that are no longer valid leave it and have no node), and every remaining contact of a
      component that held a redone contact before: those components may split (contacts or
      keys removed), so they are relabelled whole from their contacts, as in a full build;
    - one super-node per other stored component sharing a key with those contacts (a merge
      candidate): its node id is the component's earliest contact, its edges the shared keys
      only, its own key the stored label (the smallest key of that earliest contact). Such a
      component is unchanged and closed (no key leaves it), so it is connected as one node and
      the stable-label rule gives what it gives over its contacts.
    After convergence the contacts of a super-node whose label changed (merged into a customer
    with an earlier contact) are relabelled; the other contacts of merge candidates keep their
    rows. So the work is that of the redone contacts, the components that may split and the
    contacts that really change customer, not of every returning resident's history.

    Keys and labels are handled as numbers inside the pre-hook (customer_key_number: on DuckDB
    the 128-bit integer a key's 32 hexadecimal digits spell, which sorts as the digits do), and
    written back as the digits (customer_key_text): the same labels as the text gives, without a
    copy of each key's text in every join and group of the rounds.

    How: min-label propagation with one pointer jump per round (a key's label is itself a key,
    whose label it takes when smaller), one statement per step into scratch tables
    (scratch_table: temporary in an incremental build, of the model's schema in a full one);
    after the first round only from the labels that fell (semi-naive), until a
    round changes no label (at most var customer_identity_max_rounds, else
    the build fails): memory stays that of one grouped join, whatever the graph's diameter.
-#}

{% macro customer_identity_table(name) -%}
    {{ scratch_table(name) }}
{%- endmacro %}

{#- The scratch tables of the pre-hook (dropped by the post-hook). -#}
{% macro customer_identity_tables() -%}
    {{ return(['redone', 'split_labels', 'nodes', 'edges', 'hits', 'supernodes', 'own_keys',
               'labels', 'key_labels', 'next_labels', 'merged', 'changed_nodes',
               'changed_keys']) }}
{%- endmacro %}

{#- The valid contacts (contact_id, partner_code, delivery_key, created_at), as a subquery. -#}
{% macro customer_identity_contacts() -%}
    (select contact_id, partner_code, delivery_key, created_at
     from {{ ref('int_contacts__validated') }} where record_status = 'valid')
{%- endmacro %}

{#- Incremental only: <model>__redone (contact_id), the contacts of the redone deliveries and
    the stored contacts that are no longer valid; <model>__split_labels (customer_key), the
    stored components that held one of them. -#}
{% macro customer_identity_scope() -%}
    {%- set redone -%}
        with

        contacts as {{ inline_cte() }} (select * from {{ customer_identity_contacts() }}),

        previous as (select * from {{ this }}),

        redone_contacts as (

            select contacts.contact_id
            from contacts
            where {{ in_scoped_delivery('crm', 'contacts') }}
            union
            -- only a contact of a redone delivery can have left the valid contacts. An outer
            -- join, not `not exists`: the engine then builds its hash table on the few stored
            -- contacts of the redone deliveries (none for a new month), not on every valid one
            select previous.contact_id
            from previous
            left join contacts as still_valid
                on previous.contact_id = still_valid.contact_id
            where
                {{ in_scoped_delivery('crm', 'previous') }}
                and still_valid.contact_id is null

        )

        select contact_id from redone_contacts
    {%- endset -%}
    {%- set split_labels -%}
        select distinct previous.customer_key
        from {{ this }} as previous
        inner join {{ customer_identity_table('redone') }} as redone
            on previous.contact_id = redone.contact_id
        where previous.customer_key is not null
    {%- endset -%}
    {%- do run_query(create_scratch_table(customer_identity_table('redone'))
                     ~ redone) -%}
    {%- do run_query(create_scratch_table(customer_identity_table('split_labels'))
                     ~ split_labels) -%}
{%- endmacro %}

{#- The contacts labelled one by one (one column contact_id), as a select: every valid contact
    in a full build; in an incremental one the valid redone contacts and the remaining
    contacts of the components that may split. -#}
{% macro customer_identity_nodes() -%}
    {%- if is_incremental() -%}
        select contacts.contact_id
        from {{ customer_identity_contacts() }} as contacts
        inner join {{ customer_identity_table('redone') }} as redone
            on contacts.contact_id = redone.contact_id
        union
        select contacts.contact_id
        from {{ customer_identity_contacts() }} as contacts
        inner join {{ this }} as previous
            on contacts.contact_id = previous.contact_id
        inner join {{ customer_identity_table('split_labels') }} as split_labels
            on previous.customer_key = split_labels.customer_key
    {%- else -%}
        select contact_id from {{ customer_identity_contacts() }}
    {%- endif -%}
{%- endmacro %}

{#- Incremental only: the super-nodes of the stored components that share a key with a node
    and may not split. <model>__hits (key_value, customer_key): the shared keys;
    <model>__supernodes (customer_key, node_id, created_at): the component's earliest contact;
    their edges are added to <model>__edges. -#}
{% macro customer_identity_supernodes() -%}
    {%- set hits -%}
        with

        -- the stored contacts holding a key of the graph, first: joined with every stored
        -- contact's label before that, the engine would build its hash table on all of them
        shared as {{ materialized_cte() }} (

            select
                edges.key_value,
                stored_keys.contact_id
            from {{ customer_identity_table('edges') }} as edges
            inner join {{ ref('int_customers__keys') }} as stored_keys
                on {{ customer_key_text('edges.key_value') }} = stored_keys.key_value

        )

        select distinct
            shared.key_value,
            previous.customer_key
        from shared
        inner join {{ this }} as previous
            on shared.contact_id = previous.contact_id
        where
            previous.customer_key is not null
            and not exists (
                select 1
                from {{ customer_identity_table('split_labels') }} as split_labels
                where split_labels.customer_key = previous.customer_key
            )
    {%- endset -%}
    {%- set supernodes -%}
        with

        hit_labels as (

            select distinct customer_key from {{ customer_identity_table('hits') }}

        )

        -- the stored rows carry each contact's created_at: a component that may not split
        -- holds no contact of a redone delivery, so its rows are as valid as when written
        select
            previous.customer_key,
            {{ first_by('previous.contact_id', 'previous.created_at', 'previous.contact_id') }}
                as node_id,
            min(previous.created_at) as created_at
        from {{ this }} as previous
        inner join hit_labels
            on previous.customer_key = hit_labels.customer_key
        group by previous.customer_key
    {%- endset -%}
    {%- set supernode_edges -%}
        select
            supernodes.node_id,
            hits.key_value
        from {{ customer_identity_table('hits') }} as hits
        inner join {{ customer_identity_table('supernodes') }} as supernodes
            on hits.customer_key = supernodes.customer_key
    {%- endset -%}
    {%- do run_query(create_scratch_table(customer_identity_table('hits'))
                     ~ hits) -%}
    {%- do run_query(create_scratch_table(customer_identity_table('supernodes'))
                     ~ supernodes) -%}
    {%- do run_query('insert into ' ~ customer_identity_table('edges')
                     ~ ' (node_id, key_value) ' ~ supernode_edges) -%}
{%- endmacro %}

{#- Pre-hook: writes <model>__nodes (contact_id: the contacts the model writes) and
    <model>__labels (node_id: a contact id, component_label: its customer key; no row for a
    contact without keys). Returns a no-op statement for dbt to run. -#}
{% macro label_customer_components() -%}
    {%- if execute -%}
        {%- set nodes = customer_identity_table('nodes') -%}
        {%- set edges = customer_identity_table('edges') -%}
        {%- set labels = customer_identity_table('labels') -%}
        {%- set key_labels = customer_identity_table('key_labels') -%}
        {%- set next_labels = customer_identity_table('next_labels') -%}
        {%- set own_keys = customer_identity_table('own_keys') -%}
        {%- set supernodes = customer_identity_table('supernodes') -%}
        {%- set merged = customer_identity_table('merged') -%}
        {%- if is_incremental() -%}
            {%- do customer_identity_scope() -%}
        {%- endif -%}
        {%- do run_query(create_scratch_table(nodes) ~ customer_identity_nodes()) -%}
        {%- set contact_edges -%}
            select
                customer_keys.contact_id as node_id,
                {{ customer_key_number('customer_keys.key_value') }} as key_value
            from {{ ref('int_customers__keys') }} as customer_keys
            inner join {{ nodes }} as nodes
                on customer_keys.contact_id = nodes.contact_id
        {%- endset -%}
        {%- do run_query(create_scratch_table(edges) ~ contact_edges) -%}
        {#- a node's own key (the smallest of its keys; a super-node's stored label) and the
            order of the stable-label rule -#}
        {%- set own_key_rows -%}
            select
                edges.node_id,
                min(edges.key_value) as own_key,
                min(contacts.created_at) as created_at
            from {{ edges }} as edges
            inner join {{ customer_identity_contacts() }} as contacts
                on edges.node_id = contacts.contact_id
            group by edges.node_id
        {%- endset -%}
        {%- do run_query(create_scratch_table(own_keys) ~ own_key_rows) -%}
        {%- if is_incremental() -%}
            {%- do customer_identity_supernodes() -%}
            {%- do run_query(
                'insert into ' ~ own_keys ~ ' (node_id, own_key, created_at) select node_id, '
                ~ customer_key_number('customer_key') ~ ', created_at from ' ~ supernodes
            ) -%}
        {%- endif -%}
        {%- do run_query(
            create_scratch_table(labels) ~ 'select node_id, own_key as '
            ~ 'component_label from ' ~ own_keys
        ) -%}
        {%- set state = namespace(converged=false, rounds=0, merged=0) -%}
        {%- set changed_nodes = customer_identity_table('changed_nodes') -%}
        {%- set changed_keys = customer_identity_table('changed_keys') -%}
        {#- round 1 over the whole graph: a key takes the smallest label of its nodes, then
            jumps once (a label is itself a key, a node's smallest, whose own label may be
            smaller already), and a node the smallest label of its keys -#}
        {%- set key_label_rows -%}
            with

            direct as (

                select
                    edges.key_value,
                    min(labels.component_label) as component_label
                from {{ edges }} as edges
                inner join {{ labels }} as labels
                    on edges.node_id = labels.node_id
                group by edges.key_value

            )

            select
                direct.key_value,
                least(
                    direct.component_label,
                    coalesce(jump.component_label, direct.component_label)
                ) as component_label
            from direct
            left join direct as jump
                on direct.component_label = jump.key_value
        {%- endset -%}
        {%- do run_query(create_scratch_table(key_labels) ~ key_label_rows) -%}
        {%- do run_query(
            create_scratch_table(next_labels) ~ 'select edges.node_id, '
            ~ 'min(key_labels.component_label) as component_label from ' ~ edges
            ~ ' as edges inner join ' ~ key_labels ~ ' as key_labels on '
            ~ 'edges.key_value = key_labels.key_value group by edges.node_id'
        ) -%}
        {%- do run_query(
            create_scratch_table(changed_nodes) ~ 'select next_labels.node_id, '
            ~ 'next_labels.component_label from ' ~ next_labels ~ ' as next_labels inner join '
            ~ labels ~ ' as labels on next_labels.node_id = labels.node_id '
            ~ 'where next_labels.component_label < labels.component_label'
        ) -%}
        {%- do run_query('drop table ' ~ labels) -%}
        {%- do run_query('alter table ' ~ next_labels ~ ' rename to '
                         ~ this.identifier ~ '__labels') -%}
        {%- set state.rounds = 1 -%}
        {%- set state.converged = (run_query('select count(*) from ' ~ changed_nodes)
                                   .columns[0].values()[0] == 0) -%}
        {#- the next rounds start from what changed (semi-naive): the keys of the nodes whose
            label fell take it when smaller (and jump), then the nodes of those keys. Labels
            only fall, and every fall is passed on, so a round with no change is the fixpoint
            of the whole graph; a round costs what changed, where recomputing every key and
            node cost about 200 s a round at scale 10 -#}
        {%- set changed_key_rows -%}
            with

            candidates as (

                select
                    edges.key_value,
                    min(changed.component_label) as component_label
                from {{ edges }} as edges
                inner join {{ changed_nodes }} as changed
                    on edges.node_id = changed.node_id
                group by edges.key_value

            ),

            jumped as (

                select
                    candidates.key_value,
                    least(
                        candidates.component_label,
                        coalesce(jump.component_label, candidates.component_label)
                    ) as component_label
                from candidates
                left join {{ key_labels }} as jump
                    on candidates.component_label = jump.key_value

            )

            select
                jumped.key_value,
                jumped.component_label
            from jumped
            inner join {{ key_labels }} as key_labels
                on jumped.key_value = key_labels.key_value
            where jumped.component_label < key_labels.component_label
        {%- endset -%}
        {%- set changed_node_rows -%}
            with

            candidates as (

                select
                    edges.node_id,
                    min(changed.component_label) as component_label
                from {{ edges }} as edges
                inner join {{ changed_keys }} as changed
                    on edges.key_value = changed.key_value
                group by edges.node_id

            )

            select
                candidates.node_id,
                candidates.component_label
            from candidates
            inner join {{ labels }} as labels
                on candidates.node_id = labels.node_id
            where candidates.component_label < labels.component_label
        {%- endset -%}
        {%- for round in range(var('customer_identity_max_rounds') - 1) -%}
            {%- if not state.converged -%}
                {%- do run_query(create_scratch_table(changed_keys)
                                 ~ changed_key_rows) -%}
                {%- do run_query(
                    'update ' ~ key_labels ~ ' set component_label = changed.component_label '
                    ~ 'from ' ~ changed_keys ~ ' as changed where ' ~ key_labels
                    ~ '.key_value = changed.key_value'
                ) -%}
                {%- do run_query(create_scratch_table(changed_nodes)
                                 ~ changed_node_rows) -%}
                {%- do run_query(
                    'update ' ~ labels ~ ' set component_label = changed.component_label '
                    ~ 'from ' ~ changed_nodes ~ ' as changed where ' ~ labels
                    ~ '.node_id = changed.node_id'
                ) -%}
                {%- set state.rounds = state.rounds + 1 -%}
                {%- set state.converged = (run_query('select count(*) from ' ~ changed_nodes)
                                           .columns[0].values()[0] == 0) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if not state.converged -%}
            {{ exceptions.raise_compiler_error(
                'customer identity did not converge in ' ~ var('customer_identity_max_rounds')
                ~ ' rounds (dbt var customer_identity_max_rounds)') }}
        {%- endif -%}
        {#- a stable label: the smallest key of the component's earliest contact, so that
            later contacts joining a customer never change its id -#}
        {%- set stable_labels -%}
            with

            firsts as (

                select
                    labels.component_label,
                    {{ first_by('own_keys.own_key', 'own_keys.created_at', 'own_keys.node_id') }}
                        as stable_label
                from {{ labels }} as labels
                inner join {{ own_keys }} as own_keys
                    on labels.node_id = own_keys.node_id
                group by labels.component_label

            )

            select
                labels.node_id,
                firsts.stable_label as component_label
            from {{ labels }} as labels
            inner join firsts
                on labels.component_label = firsts.component_label
        {%- endset -%}
        {%- do run_query(create_scratch_table(next_labels) ~ stable_labels) -%}
        {%- do run_query('drop table ' ~ labels) -%}
        {%- do run_query('alter table ' ~ next_labels ~ ' rename to '
                         ~ this.identifier ~ '__labels') -%}
        {%- if is_incremental() -%}
            {#- the contacts of the super-nodes whose label changed; a super-node's own row
                leaves the labels, which then hold the contacts the model writes -#}
            {%- set merged_rows -%}
                select
                    previous.contact_id,
                    labels.component_label
                from {{ supernodes }} as supernodes
                inner join {{ labels }} as labels
                    on supernodes.node_id = labels.node_id
                inner join {{ this }} as previous
                    on supernodes.customer_key = previous.customer_key
                where labels.component_label
                    != {{ customer_key_number('supernodes.customer_key') }}
            {%- endset -%}
            {%- do run_query(create_scratch_table(merged) ~ merged_rows) -%}
            {%- do run_query(
                'delete from ' ~ labels ~ ' where node_id in (select node_id from '
                ~ supernodes ~ ')'
            ) -%}
            {%- do run_query(
                'insert into ' ~ labels ~ ' (node_id, component_label) select contact_id, '
                ~ 'component_label from ' ~ merged
            ) -%}
            {%- do run_query('insert into ' ~ nodes ~ ' (contact_id) select contact_id from '
                             ~ merged) -%}
            {%- set state.merged = run_query('select count(*) from ' ~ merged)
                .columns[0].values()[0] -%}
        {%- endif -%}
        {{ log('customer identity: ' ~ state.rounds ~ ' rounds, '
               ~ run_query('select count(*) from ' ~ nodes).columns[0].values()[0]
               ~ ' contacts written, ' ~ state.merged ~ ' of them relabelled by a merge',
               info=false) }}
    {%- endif -%}
    select 1
{%- endmacro %}

{#- Post-hook: drop the scratch tables of the pre-hook. -#}
{% macro drop_customer_component_tables() -%}
    {%- for name in customer_identity_tables() -%}
        {{ drop_scratch_table(name) }}
    {% endfor -%}
{%- endmacro %}
