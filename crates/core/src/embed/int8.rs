//! `model.int8_activations`: the graph's int8-stored weights used for int8 arithmetic.
//!
//! The shipped graph keeps each weight matrix as int8 with a scale per column
//! (`MatMul(x, Cast(w) * scale)`), and ONNX Runtime folds that back into float32 at load: the
//! model then computes in float32, and the int8 only made the download smaller. This rewrite
//! turns each such `MatMul` into ONNX Runtime's `DynamicQuantizeMatMul`, which quantizes the
//! activations on each call and multiplies in int8. Faster, at a cost in fidelity (see
//! `docs/benchmarks.md`), hence a setting.
//!
//! It works on the protobuf wire format, without an ONNX library: only the rewritten nodes,
//! one new initializer per scale (its shape as the operator wants it) and one opset import
//! change; every other byte is copied as it was.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

// Field numbers of onnx.proto.
const MODEL_GRAPH: u32 = 7;
const MODEL_OPSET_IMPORT: u32 = 8;
const OPSET_DOMAIN: u32 = 1;
const OPSET_VERSION: u32 = 2;
const GRAPH_NODE: u32 = 1;
const GRAPH_INITIALIZER: u32 = 5;
const NODE_INPUT: u32 = 1;
const NODE_OUTPUT: u32 = 2;
const NODE_NAME: u32 = 3;
const NODE_OP_TYPE: u32 = 4;
const NODE_DOMAIN: u32 = 7;
const TENSOR_DIMS: u32 = 1;
const TENSOR_DATA_TYPE: u32 = 2;
const TENSOR_NAME: u32 = 8;
const TENSOR_INT8: u64 = 3;
/// Longest length-delimited field read (the graph of a model is one).
const MAX_LEN: usize = 1 << 30;

#[derive(Clone, Debug)]
enum Value<'a> {
    Varint(u64),
    Len(Cow<'a, [u8]>),
    Fixed32(&'a [u8]),
    Fixed64(&'a [u8]),
}

#[derive(Clone, Debug)]
struct Field<'a> {
    number: u32,
    value: Value<'a>,
}

impl<'a> Field<'a> {
    fn bytes(number: u32, bytes: impl Into<Cow<'a, [u8]>>) -> Self {
        Self { number, value: Value::Len(bytes.into()) }
    }

    fn varint(number: u32, v: u64) -> Self {
        Self { number, value: Value::Varint(v) }
    }
}

fn read_varint(buf: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*at).ok_or("the model file ends inside a number")?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err("the model file has a number longer than 10 bytes".into())
}

fn take<'b>(buf: &'b [u8], at: &mut usize, n: usize) -> Result<&'b [u8], String> {
    let end = at.checked_add(n).filter(|&e| e <= buf.len()).ok_or("the model file ends inside a field")?;
    let bytes = &buf[*at..end];
    *at = end;
    Ok(bytes)
}

fn parse(buf: &[u8]) -> Result<Vec<Field<'_>>, String> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < buf.len() {
        let key = read_varint(buf, &mut at)?;
        let number = u32::try_from(key >> 3).map_err(|_| "a field number out of range")?;
        let value = match key & 7 {
            0 => Value::Varint(read_varint(buf, &mut at)?),
            1 => Value::Fixed64(take(buf, &mut at, 8)?),
            2 => {
                let n = usize::try_from(read_varint(buf, &mut at)?).unwrap_or(usize::MAX);
                if n > MAX_LEN {
                    return Err("a field of the model file is over 1 GiB".into());
                }
                Value::Len(Cow::Borrowed(take(buf, &mut at, n)?))
            }
            5 => Value::Fixed32(take(buf, &mut at, 4)?),
            w => return Err(format!("unsupported protobuf wire type {w}")),
        };
        out.push(Field { number, value });
    }
    Ok(out)
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn write(fields: &[Field]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields {
        let wire = match f.value {
            Value::Varint(_) => 0,
            Value::Fixed64(_) => 1,
            Value::Len(_) => 2,
            Value::Fixed32(_) => 5,
        };
        write_varint(&mut out, u64::from(f.number) << 3 | wire);
        match &f.value {
            Value::Varint(v) => write_varint(&mut out, *v),
            Value::Len(b) => {
                write_varint(&mut out, b.len() as u64);
                out.extend_from_slice(b);
            }
            Value::Fixed32(b) | Value::Fixed64(b) => out.extend_from_slice(b),
        }
    }
    out
}

/// The strings of field `number`.
fn texts<'f>(fields: &'f [Field], number: u32) -> impl Iterator<Item = &'f str> {
    fields.iter().filter(move |f| f.number == number).filter_map(|f| match &f.value {
        Value::Len(b) => std::str::from_utf8(b).ok(),
        _ => None,
    })
}

fn text<'f>(fields: &'f [Field], number: u32) -> Option<&'f str> {
    texts(fields, number).next()
}

/// The nested messages of field `number` that parse.
fn messages<'f>(fields: &'f [Field], number: u32) -> impl Iterator<Item = Vec<Field<'f>>> {
    fields.iter().filter(move |f| f.number == number).filter_map(|f| match &f.value {
        Value::Len(b) => parse(b).ok(),
        _ => None,
    })
}

fn varints(fields: &[Field], number: u32) -> Vec<u64> {
    let mut out = Vec::new();
    for f in fields.iter().filter(|f| f.number == number) {
        match &f.value {
            Value::Varint(v) => out.push(*v),
            // Packed.
            Value::Len(b) => {
                let mut at = 0;
                while let Ok(v) = read_varint(b, &mut at) {
                    out.push(v);
                    if at >= b.len() {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

struct Node<'a> {
    fields: Vec<Field<'a>>,
    op: String,
    inputs: Vec<String>,
}

/// The graph with every `MatMul` by an int8-stored weight done as `DynamicQuantizeMatMul`, and
/// how many were rewritten. An error when the file is not a graph of that shape.
pub fn rewrite(model: &[u8]) -> Result<(Vec<u8>, usize), String> {
    let mut top = parse(model)?;
    // The graph's bytes borrowed from `model`, not from `top` (which is rewritten below): the
    // graph is nearly the whole file, and a copy of it would be tens of megabytes at start-up.
    let (graph_at, graph_bytes) = top
        .iter()
        .enumerate()
        .find_map(|(i, f)| match &f.value {
            Value::Len(Cow::Borrowed(b)) if f.number == MODEL_GRAPH => Some((i, *b)),
            _ => None,
        })
        .ok_or("the model file has no graph")?;
    let graph = parse(graph_bytes)?;

    let mut initializers: HashMap<String, Vec<Field>> = HashMap::new();
    for f in graph.iter().filter(|f| f.number == GRAPH_INITIALIZER) {
        if let Value::Len(b) = &f.value {
            let tensor = parse(b)?;
            if let Some(name) = text(&tensor, TENSOR_NAME) {
                initializers.insert(name.to_string(), tensor);
            }
        }
    }
    let mut nodes: Vec<(usize, Node)> = Vec::new();
    for (i, f) in graph.iter().enumerate().filter(|(_, f)| f.number == GRAPH_NODE) {
        if let Value::Len(b) = &f.value {
            let fields = parse(b)?;
            let op = text(&fields, NODE_OP_TYPE).unwrap_or("").to_string();
            let inputs = texts(&fields, NODE_INPUT).map(str::to_string).collect();
            nodes.push((i, Node { fields, op, inputs }));
        }
    }
    let mut producer: HashMap<&str, usize> = HashMap::new();
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for (k, (_, node)) in nodes.iter().enumerate() {
        for out in texts(&node.fields, NODE_OUTPUT) {
            producer.insert(out, k);
        }
        for input in &node.inputs {
            *uses.entry(input.as_str()).or_default() += 1;
        }
    }
    let made_by = |name: &str, op: &str| producer.get(name).copied().filter(|&k| nodes[k].1.op == op);

    let mut replaced: HashMap<usize, Vec<u8>> = HashMap::new();
    let mut dropped: HashSet<usize> = HashSet::new();
    let mut added: Vec<Vec<u8>> = Vec::new();
    for (graph_index, node) in &nodes {
        let [a, w] = node.inputs.as_slice() else { continue };
        if node.op != "MatMul" || uses.get(w.as_str()) != Some(&1) {
            continue;
        }
        let Some(mul) = made_by(w, "Mul") else { continue };
        let [cast_out, scale] = nodes[mul].1.inputs.as_slice() else { continue };
        let Some(cast) = made_by(cast_out, "Cast") else { continue };
        if uses.get(cast_out.as_str()) != Some(&1) {
            continue;
        }
        let Some(weight) = nodes[cast].1.inputs.first() else { continue };
        let (Some(weight_t), Some(scale_t)) = (initializers.get(weight), initializers.get(scale)) else { continue };
        if varints(weight_t, TENSOR_DATA_TYPE) != [TENSOR_INT8] {
            continue;
        }
        let (weight_dims, scale_dims) = (varints(weight_t, TENSOR_DIMS), varints(scale_t, TENSOR_DIMS));
        let columns = weight_dims.last().copied().unwrap_or(0);
        // A scale per column, as `[1, N]` or `[N]`; the operator wants `[N]` (or a scalar).
        if weight_dims.len() != 2
            || scale_dims.iter().product::<u64>() != columns
            || scale_dims.last() != Some(&columns)
        {
            continue;
        }
        let scale_1d = format!("{scale}.columns");
        let mut tensor: Vec<Field> =
            vec![Field::varint(TENSOR_DIMS, columns), Field::bytes(TENSOR_NAME, scale_1d.as_bytes().to_vec())];
        tensor.extend(scale_t.iter().filter(|f| f.number != TENSOR_DIMS && f.number != TENSOR_NAME).cloned());
        added.push(write(&tensor));

        let mut fields = vec![
            Field::bytes(NODE_INPUT, a.as_bytes().to_vec()),
            Field::bytes(NODE_INPUT, weight.as_bytes().to_vec()),
            Field::bytes(NODE_INPUT, scale_1d.as_bytes().to_vec()),
        ];
        fields.extend(node.fields.iter().filter(|f| f.number == NODE_OUTPUT || f.number == NODE_NAME).cloned());
        fields.push(Field::bytes(NODE_OP_TYPE, b"DynamicQuantizeMatMul".to_vec()));
        fields.push(Field::bytes(NODE_DOMAIN, b"com.microsoft".to_vec()));
        replaced.insert(*graph_index, write(&fields));
        dropped.insert(nodes[mul].0);
        dropped.insert(nodes[cast].0);
    }
    let rewritten = replaced.len();
    if rewritten == 0 {
        return Err("the graph has no MatMul by an int8-stored weight to compute in int8".into());
    }

    let mut new_graph: Vec<Field> = Vec::with_capacity(graph.len() + added.len());
    for (i, f) in graph.iter().enumerate() {
        if dropped.contains(&i) {
            continue;
        }
        match replaced.remove(&i) {
            Some(bytes) => new_graph.push(Field::bytes(GRAPH_NODE, bytes)),
            None => new_graph.push(f.clone()),
        }
    }
    new_graph.extend(added.into_iter().map(|t| Field::bytes(GRAPH_INITIALIZER, t)));
    top[graph_at] = Field::bytes(MODEL_GRAPH, write(&new_graph));
    let imports_contrib =
        messages(&top, MODEL_OPSET_IMPORT).any(|opset| text(&opset, OPSET_DOMAIN) == Some("com.microsoft"));
    if !imports_contrib {
        let opset = write(&[Field::bytes(OPSET_DOMAIN, b"com.microsoft".to_vec()), Field::varint(OPSET_VERSION, 1)]);
        top.push(Field::bytes(MODEL_OPSET_IMPORT, opset));
    }
    Ok((write(&top), rewritten))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(name: &str, data_type: u64, dims: &[u64]) -> Vec<u8> {
        let mut f: Vec<Field> = dims.iter().map(|&d| Field::varint(TENSOR_DIMS, d)).collect();
        f.push(Field::varint(TENSOR_DATA_TYPE, data_type));
        f.push(Field::bytes(TENSOR_NAME, name.as_bytes().to_vec()));
        f.push(Field::bytes(9, vec![0u8; 4]));
        write(&f)
    }

    fn node(op: &str, inputs: &[&str], output: &str) -> Vec<u8> {
        let mut f: Vec<Field> = inputs.iter().map(|i| Field::bytes(NODE_INPUT, i.as_bytes().to_vec())).collect();
        f.push(Field::bytes(NODE_OUTPUT, output.as_bytes().to_vec()));
        f.push(Field::bytes(NODE_OP_TYPE, op.as_bytes().to_vec()));
        write(&f)
    }

    fn model(weight_type: u64) -> Vec<u8> {
        let graph = write(&[
            Field::bytes(GRAPH_NODE, node("Cast", &["w_q"], "w_f")),
            Field::bytes(GRAPH_NODE, node("Mul", &["w_f", "w_s"], "w")),
            Field::bytes(GRAPH_NODE, node("MatMul", &["x", "w"], "y")),
            Field::bytes(GRAPH_INITIALIZER, tensor("w_q", weight_type, &[2, 2])),
            Field::bytes(GRAPH_INITIALIZER, tensor("w_s", 1, &[1, 2])),
        ]);
        write(&[Field::varint(1, 10), Field::bytes(MODEL_GRAPH, graph)])
    }

    #[test]
    fn a_matmul_by_an_int8_weight_becomes_dynamic_quantize_matmul() {
        let (bytes, n) = rewrite(&model(TENSOR_INT8)).unwrap();
        assert_eq!(n, 1);
        let top = parse(&bytes).unwrap();
        let Value::Len(g) = &top.iter().find(|f| f.number == MODEL_GRAPH).unwrap().value else { panic!() };
        let graph = parse(g).unwrap();
        let nodes: Vec<Vec<Field>> = messages(&graph, GRAPH_NODE).collect();
        assert_eq!(nodes.len(), 1, "the Cast and the Mul are gone");
        assert_eq!(text(&nodes[0], NODE_OP_TYPE), Some("DynamicQuantizeMatMul"));
        assert_eq!(text(&nodes[0], NODE_DOMAIN), Some("com.microsoft"));
        assert_eq!(texts(&nodes[0], NODE_INPUT).collect::<Vec<_>>(), ["x", "w_q", "w_s.columns"]);
        let scale = messages(&graph, GRAPH_INITIALIZER).find(|t| text(t, TENSOR_NAME) == Some("w_s.columns")).unwrap();
        assert_eq!(varints(&scale, TENSOR_DIMS), [2]);
        let opsets: Vec<_> = top.iter().filter(|f| f.number == MODEL_OPSET_IMPORT).collect();
        assert_eq!(opsets.len(), 1);
        // Everything else is kept: the model's own first field.
        assert!(matches!(top[0].value, Value::Varint(10)));
    }

    #[test]
    fn a_graph_without_int8_weights_or_not_a_graph_is_an_error() {
        let err = rewrite(&model(1)).unwrap_err();
        assert!(err.contains("no MatMul by an int8-stored weight"), "{err}");
        assert!(rewrite(b"\x3a\xff\xff\xff").is_err(), "a truncated field");
        assert!(rewrite(b"").unwrap_err().contains("no graph"));
        assert!(rewrite(&[0x0f]).unwrap_err().contains("wire type"));
    }
}
