//! `model.int8_activations`: the graph's int8-stored weights used for int8 arithmetic.
//!
//! The shipped graph keeps each weight matrix as int8 with a scale per column
//! (`MatMul(x, Cast(w) * scale)`), and ONNX Runtime folds that back into float32 at load: the
//! model then computes in float32, and the int8 only made the download smaller. This rewrite
//! turns each such `MatMul` into ONNX Runtime's `DynamicQuantizeMatMul`, which quantizes the
//! activations on each call and multiplies in int8, and adds the bias that follows the product
//! when there is one (its `Add` goes). Faster, at a cost in fidelity (see
//! `docs/benchmarks.md`), hence a setting.
//!
//! Only the rewritten nodes, one new initializer per scale (its shape as the operator wants
//! it) and one opset import change; every other byte is copied as it was.

use super::Graph;
use super::wire::{self, Field};

/// The graph with every `MatMul` by an int8-stored weight done as `DynamicQuantizeMatMul`, and
/// how many were rewritten. An error when the file is not a graph of that shape.
pub fn rewrite(model: &[u8]) -> Result<(Vec<u8>, usize), String> {
    let mut graph = Graph::read(model)?;
    let mut rewritten = 0;
    for k in 0..graph.len() {
        let Some((a, weight, scale, dropped)) = int8_product(&graph, k) else { continue };
        let scale_t = graph.initializer(&scale).unwrap_or_default();
        let columns = wire::varints(graph.initializer(&weight).unwrap_or_default(), wire::TENSOR_DIMS)
            .last()
            .copied()
            .unwrap_or(0);
        let scale_1d = format!("{scale}.columns");
        let mut tensor: Vec<Field> =
            vec![Field::varint(wire::TENSOR_DIMS, columns), Field::text(wire::TENSOR_NAME, &scale_1d)];
        tensor
            .extend(scale_t.iter().filter(|f| f.number != wire::TENSOR_DIMS && f.number != wire::TENSOR_NAME).cloned());
        graph.add_initializer(&tensor);
        match bias_after(&graph, k, columns) {
            // The operator adds the bias itself: one pass less over the activations.
            Some((add, bias, sum, product)) => {
                graph.replace_with_contrib(k, "DynamicQuantizeMatMul", &[&a, &weight, &scale_1d, "", &bias]);
                graph.drop_node(add);
                graph.rename(&sum, &product);
            }
            None => graph.replace_with_contrib(k, "DynamicQuantizeMatMul", &[&a, &weight, &scale_1d]),
        }
        dropped.into_iter().for_each(|d| graph.drop_node(d));
        rewritten += 1;
    }
    if rewritten == 0 {
        return Err("the graph has no MatMul by an int8-stored weight to compute in int8".into());
    }
    Ok((graph.finish(), rewritten))
}

/// The `Add` of a bias (`columns` floats) that alone reads node `k`'s product: that node, the
/// bias, the sum and the product.
fn bias_after(graph: &Graph, k: usize, columns: u64) -> Option<(usize, String, String, String)> {
    let product = graph.output(k)?;
    let add = graph.only_reader(product).filter(|&add| graph.op(add) == "Add")?;
    let bias = graph.other_input(add, product)?;
    let sum = graph.output(add)?;
    (graph.float_dims(bias)? == [columns] && !graph.is_output(sum))
        .then(|| (add, bias.to_string(), sum.to_string(), product.to_string()))
}

/// Node `k` as `MatMul(a, Cast(weight) * scale)` with an int8 weight matrix and a scale per
/// column: `a`, the weight, the scale, and the `Mul` and `Cast` that go.
fn int8_product(graph: &Graph, k: usize) -> Option<(String, String, String, [usize; 2])> {
    let [a, w] = graph.inputs(k) else { return None };
    if graph.op(k) != "MatMul" || graph.readers(w) != 1 {
        return None;
    }
    let mul = graph.made_by(w, "Mul")?;
    let [cast_out, scale] = graph.inputs(mul) else { return None };
    let cast = graph.made_by(cast_out, "Cast")?;
    if graph.readers(cast_out) != 1 {
        return None;
    }
    let weight = graph.inputs(cast).first()?;
    let (weight_t, scale_t) = (graph.initializer(weight)?, graph.initializer(scale)?);
    if wire::varints(weight_t, wire::TENSOR_DATA_TYPE) != [wire::TENSOR_INT8] {
        return None;
    }
    let (weight_dims, scale_dims) =
        (wire::varints(weight_t, wire::TENSOR_DIMS), wire::varints(scale_t, wire::TENSOR_DIMS));
    let columns = weight_dims.last().copied().unwrap_or(0);
    // A scale per column, as `[1, N]` or `[N]`; the operator wants `[N]` (or a scalar).
    if weight_dims.len() != 2 || scale_dims.iter().product::<u64>() != columns || scale_dims.last() != Some(&columns) {
        return None;
    }
    Some((a.clone(), weight.clone(), scale.clone(), [mul, cast]))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{model, node, read, tensor};
    use super::super::wire::{TENSOR_FLOAT, TENSOR_INT8};
    use super::*;

    fn int8_model(weight_type: u64) -> Vec<u8> {
        model(vec![
            node("Cast", &["w_q"], "w_f"),
            node("Mul", &["w_f", "w_s"], "w"),
            node("MatMul", &["x", "w"], "y"),
            tensor("w_q", weight_type, &[2, 2], &[0; 4]),
            tensor("w_s", TENSOR_FLOAT, &[1, 2], &[0; 8]),
        ])
    }

    #[test]
    fn a_matmul_by_an_int8_weight_becomes_dynamic_quantize_matmul() {
        let (bytes, n) = rewrite(&int8_model(TENSOR_INT8)).unwrap();
        assert_eq!(n, 1);
        let got = read(&bytes);
        // The Cast and the Mul are gone, and the scale only they read.
        assert_eq!(got.nodes, ["DynamicQuantizeMatMul@com.microsoft(x, w_q, w_s.columns) -> y"]);
        assert_eq!(got.initializers, ["w_q", "w_s.columns"]);
        assert_eq!(got.opsets, ["com.microsoft"]);
        assert_eq!(got.first, Some(10), "everything else is kept");
        let graph = Graph::read(&bytes).unwrap();
        assert_eq!(wire::varints(graph.initializer("w_s.columns").unwrap(), wire::TENSOR_DIMS), [2]);
    }

    #[test]
    fn the_bias_added_to_the_product_goes_into_the_operator() {
        let mut graph = vec![
            node("Cast", &["w_q"], "w_f"),
            node("Mul", &["w_f", "w_s"], "w"),
            node("MatMul", &["x", "w"], "y"),
            node("Add", &["bias", "y"], "z"),
            node("Relu", &["z"], "r"),
            tensor("w_q", TENSOR_INT8, &[2, 2], &[0; 4]),
            tensor("w_s", TENSOR_FLOAT, &[1, 2], &[0; 8]),
            tensor("bias", TENSOR_FLOAT, &[2], &[0; 8]),
        ];
        let (bytes, _) = rewrite(&model(graph.clone())).unwrap();
        assert_eq!(
            read(&bytes).nodes,
            ["DynamicQuantizeMatMul@com.microsoft(x, w_q, w_s.columns, , bias) -> y", "Relu(y) -> r"]
        );
        // A bias of another length is left to its own Add.
        graph[7] = tensor("bias", TENSOR_FLOAT, &[1], &[0; 4]);
        let (bytes, _) = rewrite(&model(graph)).unwrap();
        assert_eq!(
            read(&bytes).nodes,
            ["DynamicQuantizeMatMul@com.microsoft(x, w_q, w_s.columns) -> y", "Add(bias, y) -> z", "Relu(z) -> r"]
        );
    }

    #[test]
    fn a_graph_without_int8_weights_or_not_a_graph_is_an_error() {
        let err = rewrite(&int8_model(TENSOR_FLOAT)).unwrap_err();
        assert!(err.contains("no MatMul by an int8-stored weight"), "{err}");
        assert!(rewrite(b"\x3a\xff\xff\xff").is_err(), "a truncated field");
        assert!(rewrite(b"").unwrap_err().contains("no graph"));
        assert!(rewrite(&[0x0f]).unwrap_err().contains("wire type"));
    }
}
