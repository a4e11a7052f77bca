//! Rewrites of the model's ONNX graph at load, on the protobuf wire format, without an ONNX
//! library: the nodes a rewrite replaces or drops are re-encoded, every other byte is copied as
//! it was.
//!
//! - [`fuse`]: exact rewrites, always made: the same arithmetic in fewer, fused operators.
//! - [`int8`]: `model.int8_activations`, products by int8-stored weights done in int8.

pub mod fuse;
pub mod int8;
#[cfg(test)]
mod testing;
mod wire;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use wire::{Field, Value};

/// One node of the graph, read.
struct Node<'a> {
    /// Where it sits among the graph's fields.
    at: usize,
    fields: Vec<Field<'a>>,
    op: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
}

/// A graph open for rewriting: its nodes and initializers read, edits gathered, then
/// [`Graph::finish`] writes the model back.
struct Graph<'a> {
    top: Vec<Field<'a>>,
    graph_at: usize,
    fields: Vec<Field<'a>>,
    nodes: Vec<Node<'a>>,
    initializers: HashMap<String, Vec<Field<'a>>>,
    /// Each initializer's name by its place among the graph's fields.
    initializer_at: HashMap<usize, String>,
    /// Output name → the node (index into `nodes`) that makes it.
    producer: HashMap<String, usize>,
    /// Value name → the nodes that read it.
    consumers: HashMap<String, Vec<usize>>,
    outputs: HashSet<String>,
    replaced: HashMap<usize, Vec<Field<'a>>>,
    dropped: HashSet<usize>,
    added: Vec<Vec<u8>>,
    /// Inputs read under another name from now on (a node that only passed a value through is gone).
    renamed: HashMap<String, String>,
    contrib: bool,
}

impl<'a> Graph<'a> {
    /// Reads `model`; an error when it is not an ONNX model with a graph.
    pub fn read(model: &'a [u8]) -> Result<Self, String> {
        let top = wire::parse(model)?;
        // The graph's bytes borrowed from `model`, not from `top` (which is rewritten at the
        // end): the graph is nearly the whole file, and a copy would be tens of megabytes.
        let (graph_at, graph_bytes) = top
            .iter()
            .enumerate()
            .find_map(|(i, f)| match &f.value {
                Value::Len(Cow::Borrowed(b)) if f.number == wire::MODEL_GRAPH => Some((i, *b)),
                _ => None,
            })
            .ok_or("the model file has no graph")?;
        let fields = wire::parse(graph_bytes)?;
        let mut initializers = HashMap::new();
        let mut initializer_at = HashMap::new();
        let mut nodes = Vec::new();
        let mut outputs = HashSet::new();
        for (at, f) in fields.iter().enumerate() {
            let Value::Len(Cow::Borrowed(b)) = &f.value else { continue };
            match f.number {
                wire::GRAPH_INITIALIZER => {
                    let tensor = wire::parse(b)?;
                    if let Some(name) = wire::text(&tensor, wire::TENSOR_NAME) {
                        initializer_at.insert(at, name.to_string());
                        initializers.insert(name.to_string(), tensor);
                    }
                }
                wire::GRAPH_NODE => {
                    let fields = wire::parse(b)?;
                    let op = wire::text(&fields, wire::NODE_OP_TYPE).unwrap_or("").to_string();
                    let inputs = wire::texts(&fields, wire::NODE_INPUT).map(str::to_string).collect();
                    let outputs = wire::texts(&fields, wire::NODE_OUTPUT).map(str::to_string).collect();
                    nodes.push(Node { at, fields, op, inputs, outputs });
                }
                wire::GRAPH_OUTPUT => {
                    if let Some(name) = wire::text(&wire::parse(b)?, wire::VALUE_INFO_NAME) {
                        outputs.insert(name.to_string());
                    }
                }
                _ => {}
            }
        }
        let mut producer = HashMap::new();
        let mut consumers: HashMap<String, Vec<usize>> = HashMap::new();
        for (k, node) in nodes.iter().enumerate() {
            for out in &node.outputs {
                producer.insert(out.clone(), k);
            }
            for input in &node.inputs {
                consumers.entry(input.clone()).or_default().push(k);
            }
        }
        Ok(Self {
            top,
            graph_at,
            fields,
            nodes,
            initializers,
            initializer_at,
            producer,
            consumers,
            outputs,
            replaced: HashMap::new(),
            dropped: HashSet::new(),
            added: Vec::new(),
            renamed: HashMap::new(),
            contrib: false,
        })
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn op(&self, k: usize) -> &str {
        &self.nodes[k].op
    }

    pub fn inputs(&self, k: usize) -> &[String] {
        &self.nodes[k].inputs
    }

    /// The node's only output.
    pub fn output(&self, k: usize) -> Option<&str> {
        match self.nodes[k].outputs.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// The input of two-input node `k` that is not `value`.
    pub fn other_input(&self, k: usize, value: &str) -> Option<&str> {
        match self.nodes[k].inputs.as_slice() {
            [a, b] if a == value => Some(b),
            [a, b] if b == value => Some(a),
            _ => None,
        }
    }

    /// The node that makes `value` with operator `op`, if one does.
    pub fn made_by(&self, value: &str, op: &str) -> Option<usize> {
        self.producer.get(value).copied().filter(|&k| self.nodes[k].op == op)
    }

    /// The one node that reads `value`, when nothing else does (nor the graph's outputs).
    pub fn only_reader(&self, value: &str) -> Option<usize> {
        match self.consumers.get(value).map(Vec::as_slice) {
            Some(&[k]) if !self.outputs.contains(value) => Some(k),
            _ => None,
        }
    }

    pub fn is_output(&self, value: &str) -> bool {
        self.outputs.contains(value)
    }

    /// How many nodes read `value`, the graph's outputs counted as readers.
    pub fn readers(&self, value: &str) -> usize {
        self.consumers.get(value).map_or(0, Vec::len) + usize::from(self.outputs.contains(value))
    }

    pub fn initializer(&self, name: &str) -> Option<&[Field<'a>]> {
        self.initializers.get(name).map(Vec::as_slice)
    }

    /// The shape of a float32 initializer (`None` for another type, or no initializer).
    pub fn float_dims(&self, name: &str) -> Option<Vec<u64>> {
        let tensor = self.initializers.get(name)?;
        (wire::varints(tensor, wire::TENSOR_DATA_TYPE) == [wire::TENSOR_FLOAT])
            .then(|| wire::varints(tensor, wire::TENSOR_DIMS))
    }

    /// The value of a one-element float32 initializer.
    pub fn scalar(&self, name: &str) -> Option<f32> {
        if self.float_dims(name)?.iter().product::<u64>() != 1 {
            return None;
        }
        match wire::floats(self.initializers.get(name)?).as_slice() {
            [v] => Some(*v),
            _ => None,
        }
    }

    /// Whether every constant of the graph is finite: float32 initializers read and found so,
    /// the rest integers or booleans. A constant node, or a constant of another floating type
    /// (half, double), could hide an infinity, and answers no.
    pub fn constants_are_finite(&self) -> bool {
        let nodes_hold_none = self.nodes.iter().all(|n| n.op != "Constant" && n.op != "ConstantOfShape");
        let initializers_finite =
            self.initializers.values().all(|t| match wire::varints(t, wire::TENSOR_DATA_TYPE)[..] {
                [wire::TENSOR_FLOAT] => wire::floats(t).iter().all(|v| v.is_finite()),
                [data_type] => wire::TENSOR_INTEGER_OR_BOOL.contains(&data_type),
                _ => false,
            });
        nodes_hold_none && initializers_finite
    }

    pub fn drop_node(&mut self, k: usize) {
        self.dropped.insert(k);
    }

    /// Node `k` becomes `op` of ONNX Runtime's contributed operators (`com.microsoft`), with
    /// `inputs` and the node's own outputs and name.
    pub fn replace_with_contrib(&mut self, k: usize, op: &str, inputs: &[&str]) {
        let node = &self.nodes[k];
        let mut fields: Vec<Field<'a>> = inputs.iter().map(|i| Field::text(wire::NODE_INPUT, i)).collect();
        fields.extend(
            node.fields.iter().filter(|f| f.number == wire::NODE_OUTPUT || f.number == wire::NODE_NAME).cloned(),
        );
        fields.push(Field::text(wire::NODE_OP_TYPE, op));
        fields.push(Field::text(wire::NODE_DOMAIN, "com.microsoft"));
        self.replaced.insert(k, fields);
        self.contrib = true;
    }

    /// Readers of `from` read `to` instead (the node that made `from` is to be dropped).
    pub fn rename(&mut self, from: &str, to: &str) {
        self.renamed.insert(from.to_string(), to.to_string());
    }

    pub fn add_initializer(&mut self, tensor: &[Field]) {
        self.added.push(wire::write(tensor));
    }

    /// The model with the edits made. Initializers that only dropped or replaced nodes read
    /// go too (ONNX Runtime would drop them with a warning each).
    pub fn finish(mut self) -> Vec<u8> {
        let renamed = std::mem::take(&mut self.renamed);
        let mut replaced = std::mem::take(&mut self.replaced);
        // Nodes re-encoded (or, as `None`, dropped), by their place among the graph's fields;
        // a node neither replaced nor reading a renamed value is copied as it was.
        let mut edited: HashMap<usize, Option<Vec<Field<'a>>>> = HashMap::new();
        let mut orphans: HashSet<&str> = HashSet::new();
        let mut read: HashSet<String> = HashSet::new();
        for (k, node) in self.nodes.iter().enumerate() {
            let gone = self.dropped.contains(&k);
            let replacement = replaced.remove(&k);
            if gone || replacement.is_some() {
                orphans.extend(node.inputs.iter().map(String::as_str).filter(|i| self.initializers.contains_key(*i)));
            }
            if gone {
                edited.insert(node.at, None);
                continue;
            }
            let reads_renamed = node.inputs.iter().any(|i| renamed.contains_key(i));
            let Some(mut fields) = replacement.or_else(|| reads_renamed.then(|| node.fields.clone())) else {
                read.extend(node.inputs.iter().cloned());
                continue;
            };
            for f in fields.iter_mut().filter(|f| f.number == wire::NODE_INPUT) {
                if let Value::Len(b) = &f.value
                    && let Some(to) = std::str::from_utf8(b).ok().and_then(|name| renamed.get(name))
                {
                    *f = Field::text(wire::NODE_INPUT, to);
                }
            }
            read.extend(wire::texts(&fields, wire::NODE_INPUT).map(str::to_string));
            edited.insert(node.at, Some(fields));
        }
        orphans.retain(|name| !read.contains(*name) && !self.outputs.contains(*name));
        let mut graph: Vec<Field> = Vec::with_capacity(self.fields.len() + self.added.len());
        for (at, f) in self.fields.iter().enumerate() {
            match edited.remove(&at) {
                Some(None) => {}
                Some(Some(fields)) => graph.push(Field::bytes(wire::GRAPH_NODE, wire::write(&fields))),
                None => {
                    let orphan = self.initializer_at.get(&at).is_some_and(|name| orphans.contains(name.as_str()));
                    if !orphan {
                        graph.push(f.clone());
                    }
                }
            }
        }
        graph.extend(self.added.iter().map(|t| Field::bytes(wire::GRAPH_INITIALIZER, t.clone())));
        let imports_contrib = wire::messages(&self.top, wire::MODEL_OPSET_IMPORT)
            .any(|opset| wire::text(&opset, wire::OPSET_DOMAIN) == Some("com.microsoft"));
        let mut top = self.top.clone();
        top[self.graph_at] = Field::bytes(wire::MODEL_GRAPH, wire::write(&graph));
        if self.contrib && !imports_contrib {
            let opset =
                wire::write(&[Field::text(wire::OPSET_DOMAIN, "com.microsoft"), Field::varint(wire::OPSET_VERSION, 1)]);
            top.push(Field::bytes(wire::MODEL_OPSET_IMPORT, opset));
        }
        wire::write(&top)
    }
}
