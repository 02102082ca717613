{#-
    Customer identity (docs/crm.md, "Customer identity"): connected components of the graph
    contact <-> customer key, computed by the pre-hook of int_customers__resolved.

    Which contacts are labelled: every valid contact in a full build; in an incremental build
    the contacts of the redone deliveries and every contact of a component they touch (its
    previous component, and any component sharing a key with them). A component is closed (no
    key leaves it), so relabelling whole components gives what a full build would.

    How: min-label propagation, one statement per round into scratch tables of the model's
    schema, until a round changes no label (at most var customer_identity_max_rounds, else
    the build fails): memory stays that of one grouped join, whatever the graph's diameter.
    A component's label is the smallest key of its earliest contact (by created_at, then
    contact id): stable when later contacts join the customer, so a new month relabels only
    customers it merges.
-#}

{#- The contacts to label (one column contact_id), as a select. -#}
{% macro customer_identity_nodes() -%}
    {%- set contacts -%}
        (select contact_id, partner_code, delivery_key
         from {{ ref('int_contacts__validated') }} where record_status = 'valid')
    {%- endset -%}
    {%- if is_incremental() -%}
        with

        contacts as (select * from {{ contacts }}),

        previous as (select * from {{ this }}),

        customer_keys as (select * from {{ ref('int_customers__keys') }}),

        redone_contacts as (

            select contact_id
            from contacts
            where {{ in_scoped_delivery('crm', 'contacts') }}
            union
            select previous.contact_id
            from previous
            where not exists (
                select 1 from contacts where contacts.contact_id = previous.contact_id
            )

        ),

        touched_labels as (

            select previous.customer_key
            from previous
            inner join redone_contacts
                on previous.contact_id = redone_contacts.contact_id
            where previous.customer_key is not null
            union
            select previous.customer_key
            from customer_keys as redone_keys
            inner join redone_contacts
                on redone_keys.contact_id = redone_contacts.contact_id
            inner join customer_keys as shared_keys
                on redone_keys.key_value = shared_keys.key_value
            inner join previous
                on shared_keys.contact_id = previous.contact_id
            where previous.customer_key is not null

        )

        select contacts.contact_id
        from contacts
        inner join redone_contacts
            on contacts.contact_id = redone_contacts.contact_id
        union
        select contacts.contact_id
        from contacts
        inner join previous
            on contacts.contact_id = previous.contact_id
        inner join touched_labels
            on previous.customer_key = touched_labels.customer_key
    {%- else -%}
        select contact_id from {{ contacts }}
    {%- endif -%}
{%- endmacro %}

{% macro customer_identity_table(name) -%}
    {{ this.schema }}.{{ this.identifier }}__{{ name }}
{%- endmacro %}

{#- Pre-hook: writes <model>__nodes (contact_id) and <model>__labels (node_id,
    component_label). Returns a no-op statement for dbt to run. -#}
{% macro label_customer_components() -%}
    {%- if execute -%}
        {%- set nodes = customer_identity_table('nodes') -%}
        {%- set edges = customer_identity_table('edges') -%}
        {%- set labels = customer_identity_table('labels') -%}
        {%- set key_labels = customer_identity_table('key_labels') -%}
        {%- set next_labels = customer_identity_table('next_labels') -%}
        {%- do run_query('create or replace table ' ~ nodes ~ ' as ' ~ customer_identity_nodes()) -%}
        {%- do run_query(
            'create or replace table ' ~ edges ~ ' as select keys.contact_id as node_id, '
            ~ 'keys.key_value from ' ~ ref('int_customers__keys') ~ ' as keys inner join '
            ~ nodes ~ ' as nodes on keys.contact_id = nodes.contact_id'
        ) -%}
        {%- do run_query(
            'create or replace table ' ~ labels ~ ' as select node_id, min(key_value) as '
            ~ 'component_label from ' ~ edges ~ ' group by node_id'
        ) -%}
        {%- set state = namespace(converged=false, rounds=0) -%}
        {%- for round in range(var('customer_identity_max_rounds')) -%}
            {%- if not state.converged -%}
                {%- do run_query(
                    'create or replace table ' ~ key_labels ~ ' as select edges.key_value, '
                    ~ 'min(labels.component_label) as component_label from ' ~ edges
                    ~ ' as edges inner join ' ~ labels ~ ' as labels on edges.node_id = '
                    ~ 'labels.node_id group by edges.key_value'
                ) -%}
                {%- do run_query(
                    'create or replace table ' ~ next_labels ~ ' as select edges.node_id, '
                    ~ 'min(key_labels.component_label) as component_label from ' ~ edges
                    ~ ' as edges inner join ' ~ key_labels ~ ' as key_labels on '
                    ~ 'edges.key_value = key_labels.key_value group by edges.node_id'
                ) -%}
                {%- set changed = run_query(
                    'select count(*) from ' ~ next_labels ~ ' as next_labels inner join '
                    ~ labels ~ ' as labels on next_labels.node_id = labels.node_id '
                    ~ 'where next_labels.component_label != labels.component_label'
                ).columns[0].values()[0] -%}
                {%- do run_query('drop table ' ~ labels) -%}
                {%- do run_query('alter table ' ~ next_labels ~ ' rename to '
                                 ~ this.identifier ~ '__labels') -%}
                {%- set state.rounds = state.rounds + 1 -%}
                {%- set state.converged = (changed == 0) -%}
            {%- endif -%}
        {%- endfor -%}
        {#- a stable label: the smallest key of the component's earliest contact, so that
            later contacts joining a customer never change its id -#}
        {%- do run_query(
            'create or replace table ' ~ next_labels ~ ' as with own_keys as (select node_id, '
            ~ 'min(key_value) as own_key from ' ~ edges ~ ' group by node_id), firsts as ('
            ~ 'select labels.component_label, '
            ~ first_by('own_keys.own_key', 'contacts.created_at', 'contacts.contact_id')
            ~ ' as stable_label from ' ~ labels ~ ' as labels inner join own_keys on '
            ~ 'labels.node_id = own_keys.node_id inner join '
            ~ ref('int_contacts__validated') ~ ' as contacts on labels.node_id = '
            ~ 'contacts.contact_id group by labels.component_label) select labels.node_id, '
            ~ 'firsts.stable_label as component_label from ' ~ labels ~ ' as labels inner join '
            ~ 'firsts on labels.component_label = firsts.component_label'
        ) -%}
        {%- do run_query('drop table ' ~ labels) -%}
        {%- do run_query('alter table ' ~ next_labels ~ ' rename to '
                         ~ this.identifier ~ '__labels') -%}
        {%- if not state.converged -%}
            {{ exceptions.raise_compiler_error(
                'customer identity did not converge in ' ~ var('customer_identity_max_rounds')
                ~ ' rounds (dbt var customer_identity_max_rounds)') }}
        {%- endif -%}
        {{ log('customer identity: ' ~ state.rounds ~ ' rounds', info=false) }}
    {%- endif -%}
    select 1
{%- endmacro %}

{#- Post-hook: drop the scratch tables of the pre-hook. -#}
{% macro drop_customer_component_tables() -%}
    {%- for name in ['nodes', 'edges', 'labels', 'key_labels', 'next_labels'] -%}
        drop table if exists {{ customer_identity_table(name) }};
    {% endfor -%}
{%- endmacro %}
