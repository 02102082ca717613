{#-
    Connected components of a bipartite graph node <-> key by iterative min-label propagation,
    unrolled `iterations` times (DuckDB has no loops in a model). Expects a relation/CTE
    `edges_relation` with columns `node_id` and `key_value`; returns a SELECT of one row per
    node: node_id, component_label (the smallest key_value reachable from the node within
    2 x iterations hops). The singular test assert_customers_converged checks that enough
    iterations ran.
-#}
{% macro connected_components(edges_relation, iterations) -%}
    with

    labels_0 as (

        select
            node_id,
            min(key_value) as component_label
        from {{ edges_relation }}
        group by node_id

    ),
    {%- for i in range(1, iterations + 1) %}

    key_labels_{{ i }} as (

        select
            edges.key_value,
            min(labels.component_label) as component_label
        from {{ edges_relation }} as edges
        inner join labels_{{ i - 1 }} as labels
            on edges.node_id = labels.node_id
        group by edges.key_value

    ),

    labels_{{ i }} as (

        select
            edges.node_id,
            min(key_labels.component_label) as component_label
        from {{ edges_relation }} as edges
        inner join key_labels_{{ i }} as key_labels
            on edges.key_value = key_labels.key_value
        group by edges.node_id

    ),
    {%- endfor %}

    components as (

        select
            node_id,
            component_label
        from labels_{{ iterations }}

    )

    select * from components
{%- endmacro %}
