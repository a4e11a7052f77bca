//! Small graphs for the rewrites' tests, written and read on the wire format.

use super::wire::{self, Field, Value};

/// An initializer of `data_type` and `dims`, its raw data `raw`.
pub fn tensor(name: &str, data_type: u64, dims: &[u64], raw: &[u8]) -> Field<'static> {
    let mut f: Vec<Field> = dims.iter().map(|&d| Field::varint(wire::TENSOR_DIMS, d)).collect();
    f.push(Field::varint(wire::TENSOR_DATA_TYPE, data_type));
    f.push(Field::text(wire::TENSOR_NAME, name));
    f.push(Field::bytes(wire::TENSOR_RAW_DATA, raw.to_vec()));
    Field::bytes(wire::GRAPH_INITIALIZER, wire::write(&f))
}

/// A float32 scalar initializer.
pub fn scalar(name: &str, v: f32) -> Field<'static> {
    tensor(name, wire::TENSOR_FLOAT, &[], &v.to_le_bytes())
}

pub fn node(op: &str, inputs: &[&str], output: &str) -> Field<'static> {
    let mut f: Vec<Field> = inputs.iter().map(|i| Field::text(wire::NODE_INPUT, i)).collect();
    f.push(Field::text(wire::NODE_OUTPUT, output));
    f.push(Field::text(wire::NODE_OP_TYPE, op));
    Field::bytes(wire::GRAPH_NODE, wire::write(&f))
}

pub fn graph_output(name: &str) -> Field<'static> {
    Field::bytes(wire::GRAPH_OUTPUT, wire::write(&[Field::text(wire::VALUE_INFO_NAME, name)]))
}

/// A model of these graph fields, with one other field of its own (kept by every rewrite).
pub fn model(graph: Vec<Field>) -> Vec<u8> {
    wire::write(&[Field::varint(1, 10), Field::bytes(wire::MODEL_GRAPH, wire::write(&graph))])
}

/// What a test looks at in a written model.
pub struct Read {
    /// `op(inputs) -> output` of each node, in order, with `@domain` after a contributed op.
    pub nodes: Vec<String>,
    pub initializers: Vec<String>,
    pub opsets: Vec<String>,
    /// The model's own first field, as written.
    pub first: Option<u64>,
}

pub fn read(model: &[u8]) -> Read {
    let top = wire::parse(model).unwrap();
    let Some(Value::Len(g)) = top.iter().find(|f| f.number == wire::MODEL_GRAPH).map(|f| &f.value) else {
        panic!("no graph")
    };
    let graph = wire::parse(g).unwrap();
    let nodes = wire::messages(&graph, wire::GRAPH_NODE)
        .map(|n| {
            let inputs: Vec<&str> = wire::texts(&n, wire::NODE_INPUT).collect();
            let domain = wire::text(&n, wire::NODE_DOMAIN).map(|d| format!("@{d}")).unwrap_or_default();
            let op = wire::text(&n, wire::NODE_OP_TYPE).unwrap_or("");
            let out = wire::text(&n, wire::NODE_OUTPUT).unwrap_or("");
            format!("{op}{domain}({}) -> {out}", inputs.join(", "))
        })
        .collect();
    let initializers = wire::messages(&graph, wire::GRAPH_INITIALIZER)
        .filter_map(|t| wire::text(&t, wire::TENSOR_NAME).map(str::to_string))
        .collect();
    let opsets = wire::messages(&top, wire::MODEL_OPSET_IMPORT)
        .filter_map(|o| wire::text(&o, wire::OPSET_DOMAIN).map(str::to_string))
        .collect();
    let first = match top.first().map(|f| &f.value) {
        Some(Value::Varint(v)) => Some(*v),
        _ => None,
    };
    Read { nodes, initializers, opsets, first }
}
