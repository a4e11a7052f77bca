//! Exact rewrites, made on every load: the same arithmetic in fewer operators.
//!
//! The shipped all-MiniLM-L6-v2 graph was exported with PyTorch's scaled-dot-product attention
//! and an erf GELU spelled out in five elementwise operators, and ONNX Runtime fuses neither.
//! Measured on 2 cores (`docs/benchmarks.md`), a guard and the spelled-out GELU took a fifth of
//! the model's time:
//!
//! - **NaN guards.** Each attention's `Where(IsNaN(p), 0, p)` over its softmax `p` (batch ×
//!   heads × tokens² values, read twice and written once): softmax yields NaN only when a row of
//!   its input is all −∞ or holds a NaN. This graph masks with the most negative finite float,
//!   never −∞, so the guard passes every value through; it is removed only when every float
//!   constant of the graph is finite, which is what makes that so.
//! - **GELU.** `x · 0.5 · (1 + erf(x / √2))` becomes ONNX Runtime's `Gelu`, or `BiasGelu` when
//!   `x` is a product plus a bias (one pass over the activations instead of six).
//!
//! Vectors agree with the graph as shipped to within float rounding (a test holds them to it),
//! so they keep the model's id and cached vectors stay valid.

use super::Graph;

/// What [`rewrite`] changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fused {
    pub nan_guards: usize,
    pub gelus: usize,
}

impl Fused {
    pub fn any(&self) -> bool {
        self.nan_guards + self.gelus > 0
    }
}

/// The graph with its NaN guards dropped and its GELUs fused, when it has any.
pub fn rewrite(model: &[u8]) -> Result<(Vec<u8>, Fused), String> {
    let mut graph = Graph::read(model)?;
    let mut fused = Fused::default();
    let finite = graph.constants_are_finite();
    for k in 0..graph.len() {
        if finite && let Some((guarded, softmax_out, is_nan)) = nan_guard(&graph, k) {
            graph.rename(&guarded, &softmax_out);
            graph.drop_node(k);
            graph.drop_node(is_nan);
            fused.nan_guards += 1;
        } else if let Some(gelu) = gelu(&graph, k) {
            match &gelu.bias {
                Some((product, bias, add)) => {
                    graph.replace_with_contrib(gelu.last, "BiasGelu", &[product, bias]);
                    graph.drop_node(*add);
                }
                None => graph.replace_with_contrib(gelu.last, "Gelu", &[&gelu.x]),
            }
            gelu.dropped.into_iter().for_each(|d| graph.drop_node(d));
            fused.gelus += 1;
        }
    }
    Ok(if fused.any() { (graph.finish(), fused) } else { (model.to_vec(), fused) })
}

/// Node `k` as `Where(IsNaN(p), 0, p)` with `p` a softmax: its output, `p`, and the `IsNaN`.
fn nan_guard(graph: &Graph, k: usize) -> Option<(String, String, usize)> {
    let [test, zero, p] = graph.inputs(k) else { return None };
    if graph.op(k) != "Where" || graph.scalar(zero) != Some(0.0) {
        return None;
    }
    let is_nan = graph.made_by(test, "IsNaN")?;
    graph.made_by(p, "Softmax")?;
    if graph.inputs(is_nan) != std::slice::from_ref(p) || graph.readers(test) != 1 {
        return None;
    }
    let out = graph.output(k)?;
    // Readers of the guard's output are given `p`; a graph output keeps its name (and its guard).
    (!graph.is_output(out)).then(|| (out.to_string(), p.clone(), is_nan))
}

struct Gelu {
    x: String,
    /// `x` as `product + bias` (a 1-D initializer), and that `Add`.
    bias: Option<(String, String, usize)>,
    /// The node whose output is the GELU's.
    last: usize,
    dropped: Vec<usize>,
}

/// Node `k` as the `Erf` of `Mul(x, Mul(0.5, Add(Erf(Div(x, √2)), 1)))`, each step read by the
/// next alone (either operand order of `Add` and `Mul`).
fn gelu(graph: &Graph, k: usize) -> Option<Gelu> {
    if graph.op(k) != "Erf" {
        return None;
    }
    let div = graph.made_by(graph.inputs(k).first()?, "Div")?;
    let [x, root2] = graph.inputs(div) else { return None };
    if (graph.scalar(root2)? - std::f32::consts::SQRT_2).abs() > 1e-6 || graph.only_reader(graph.output(div)?)? != k {
        return None;
    }
    let erf_out = graph.output(k)?;
    let add = graph.only_reader(erf_out)?;
    if graph.op(add) != "Add" || graph.scalar(graph.other_input(add, erf_out)?) != Some(1.0) {
        return None;
    }
    let add_out = graph.output(add)?;
    let half = graph.only_reader(add_out)?;
    if graph.op(half) != "Mul" || graph.scalar(graph.other_input(half, add_out)?) != Some(0.5) {
        return None;
    }
    let half_out = graph.output(half)?;
    let last = graph.only_reader(half_out)?;
    if graph.op(last) != "Mul" || graph.other_input(last, half_out)? != x.as_str() {
        return None;
    }
    // `x` read by the Div and the last Mul alone: its Add can go into a BiasGelu.
    let bias = graph.made_by(x, "Add").filter(|_| graph.readers(x) == 2).and_then(|add_bias| {
        let [a, b] = graph.inputs(add_bias) else { return None };
        let (product, bias) = if graph.initializer(b).is_some() { (a, b) } else { (b, a) };
        let dims = graph.float_dims(bias)?;
        (graph.initializer(product).is_none() && dims.len() == 1 && dims[0] > 1)
            .then(|| (product.clone(), bias.clone(), add_bias))
    });
    Some(Gelu { x: x.clone(), bias, last, dropped: vec![div, k, add, half] })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{graph_output, model, node, read, scalar, tensor};
    use super::super::wire::{Field, TENSOR_FLOAT};
    use super::*;

    /// `out = MatMul(guarded softmax(gelu(MatMul(h, w) + b)), v)`, with extra nodes and
    /// constants from `more`.
    fn attention_like(more: Vec<Field<'static>>) -> Vec<u8> {
        let mut graph = vec![
            node("MatMul", &["h", "w"], "mm"),
            node("Add", &["mm", "b"], "x"),
            node("Div", &["x", "root2"], "d"),
            node("Erf", &["d"], "e"),
            node("Add", &["e", "one"], "a"),
            node("Mul", &["half", "a"], "m"),
            node("Mul", &["x", "m"], "g"),
            node("Softmax", &["g"], "p"),
            node("IsNaN", &["p"], "n"),
            node("Where", &["n", "zero", "p"], "q"),
            node("MatMul", &["q", "v"], "out"),
            tensor("w", TENSOR_FLOAT, &[4, 4], &[0; 64]),
            tensor("b", TENSOR_FLOAT, &[4], &[0; 16]),
            tensor("v", TENSOR_FLOAT, &[4, 4], &[0; 64]),
            scalar("root2", std::f32::consts::SQRT_2),
            scalar("one", 1.0),
            scalar("half", 0.5),
            scalar("zero", 0.0),
            graph_output("out"),
        ];
        graph.extend(more);
        model(graph)
    }

    #[test]
    fn the_guard_goes_and_the_gelu_takes_its_bias() {
        let (bytes, fused) = rewrite(&attention_like(Vec::new())).unwrap();
        assert_eq!(fused, Fused { nan_guards: 1, gelus: 1 });
        let got = read(&bytes);
        assert_eq!(
            got.nodes,
            ["MatMul(h, w) -> mm", "BiasGelu@com.microsoft(mm, b) -> g", "Softmax(g) -> p", "MatMul(p, v) -> out",]
        );
        assert_eq!(got.initializers, ["w", "b", "v"], "constants only the dropped nodes read go with them");
        assert_eq!(got.opsets, ["com.microsoft"]);
        assert_eq!(got.first, Some(10));
        // Written back, the result is a graph the rewrite reads and leaves alone.
        let (again, none) = rewrite(&bytes).unwrap();
        assert_eq!((again, none), (bytes, Fused::default()));
    }

    #[test]
    fn an_infinite_constant_keeps_the_guard() {
        // A mask of −∞ can make a whole softmax row NaN, which the guard turns to zeros.
        let bytes = attention_like(vec![scalar("minus_inf", f32::NEG_INFINITY), node("Add", &["h", "minus_inf"], "z")]);
        let (bytes, fused) = rewrite(&bytes).unwrap();
        assert_eq!(fused, Fused { nan_guards: 0, gelus: 1 });
        assert!(read(&bytes).nodes.iter().any(|n| n.starts_with("Where(")), "{:?}", read(&bytes).nodes);
    }

    #[test]
    fn a_constant_that_could_hide_an_infinity_keeps_the_guard() {
        // A half-precision constant is not read; a constant node is not read either.
        for more in [
            vec![tensor("half_mask", 10, &[1], &[0x00, 0xfc]), node("Cast", &["half_mask"], "z")],
            vec![node("Constant", &[], "c")],
        ] {
            let (bytes, fused) = rewrite(&attention_like(more)).unwrap();
            assert_eq!(fused.nan_guards, 0);
            assert!(read(&bytes).nodes.iter().any(|n| n.starts_with("Where(")));
        }
    }

    #[test]
    fn a_gelu_of_a_value_without_a_bias_is_a_plain_gelu() {
        let bytes = model(vec![
            node("Div", &["x", "root2"], "d"),
            node("Erf", &["d"], "e"),
            node("Add", &["one", "e"], "a"),
            node("Mul", &["a", "half"], "m"),
            node("Mul", &["m", "x"], "g"),
            scalar("root2", std::f32::consts::SQRT_2),
            scalar("one", 1.0),
            scalar("half", 0.5),
            graph_output("g"),
        ]);
        let (bytes, fused) = rewrite(&bytes).unwrap();
        assert_eq!(fused, Fused { nan_guards: 0, gelus: 1 });
        assert_eq!(read(&bytes).nodes, ["Gelu@com.microsoft(x) -> g"]);
        assert!(read(&bytes).initializers.is_empty());
    }

    #[test]
    fn nothing_changes_where_a_step_is_read_elsewhere_or_names_an_output() {
        // The erf's output read by another node; the guard's output is the graph's; the
        // constant is not √2.
        for more in [
            vec![node("Neg", &["e"], "side"), graph_output("side"), graph_output("q")],
            vec![graph_output("q"), scalar("root2", 1.5)],
        ] {
            let shipped = attention_like(more);
            let (bytes, fused) = rewrite(&shipped).unwrap();
            assert_eq!(fused, Fused::default());
            assert_eq!(bytes, shipped);
        }
    }

    #[test]
    fn what_is_not_a_model_is_an_error() {
        assert!(rewrite(b"not an onnx graph").is_err());
        assert!(rewrite(b"").unwrap_err().contains("no graph"));
    }
}
