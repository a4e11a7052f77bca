//! The protobuf wire format, as much of it as reading and rewriting an ONNX graph needs: fields
//! parsed lazily (a nested message stays bytes until asked for) and written back as they were.

use std::borrow::Cow;

// Field numbers of onnx.proto.
pub(super) const MODEL_GRAPH: u32 = 7;
pub(super) const MODEL_OPSET_IMPORT: u32 = 8;
pub(super) const OPSET_DOMAIN: u32 = 1;
pub(super) const OPSET_VERSION: u32 = 2;
pub(super) const GRAPH_NODE: u32 = 1;
pub(super) const GRAPH_INITIALIZER: u32 = 5;
pub(super) const GRAPH_OUTPUT: u32 = 12;
pub(super) const VALUE_INFO_NAME: u32 = 1;
pub(super) const NODE_INPUT: u32 = 1;
pub(super) const NODE_OUTPUT: u32 = 2;
pub(super) const NODE_NAME: u32 = 3;
pub(super) const NODE_OP_TYPE: u32 = 4;
pub(super) const NODE_DOMAIN: u32 = 7;
pub(super) const TENSOR_DIMS: u32 = 1;
pub(super) const TENSOR_DATA_TYPE: u32 = 2;
pub(super) const TENSOR_FLOAT_DATA: u32 = 4;
pub(super) const TENSOR_NAME: u32 = 8;
pub(super) const TENSOR_RAW_DATA: u32 = 9;
pub(super) const TENSOR_FLOAT: u64 = 1;
pub(super) const TENSOR_INT8: u64 = 3;
/// uint8, int8, uint16, int16, int32, int64, bool, uint32, uint64: no infinities in them.
pub(super) const TENSOR_INTEGER_OR_BOOL: [u64; 9] = [2, 3, 4, 5, 6, 7, 9, 12, 13];
/// Longest length-delimited field read (the graph of a model is one).
const MAX_LEN: usize = 1 << 30;

#[derive(Clone, Debug)]
pub(super) enum Value<'a> {
    Varint(u64),
    Len(Cow<'a, [u8]>),
    Fixed32(&'a [u8]),
    Fixed64(&'a [u8]),
}

#[derive(Clone, Debug)]
pub(super) struct Field<'a> {
    pub number: u32,
    pub value: Value<'a>,
}

impl<'a> Field<'a> {
    pub fn bytes(number: u32, bytes: impl Into<Cow<'a, [u8]>>) -> Self {
        Self { number, value: Value::Len(bytes.into()) }
    }

    pub fn text(number: u32, text: &str) -> Self {
        Self::bytes(number, text.as_bytes().to_vec())
    }

    pub fn varint(number: u32, v: u64) -> Self {
        Self { number, value: Value::Varint(v) }
    }
}

pub(super) fn read_varint(buf: &[u8], at: &mut usize) -> Result<u64, String> {
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

pub(super) fn parse(buf: &[u8]) -> Result<Vec<Field<'_>>, String> {
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

pub(super) fn write(fields: &[Field]) -> Vec<u8> {
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
pub(super) fn texts<'f>(fields: &'f [Field], number: u32) -> impl Iterator<Item = &'f str> {
    fields.iter().filter(move |f| f.number == number).filter_map(|f| match &f.value {
        Value::Len(b) => std::str::from_utf8(b).ok(),
        _ => None,
    })
}

pub(super) fn text<'f>(fields: &'f [Field], number: u32) -> Option<&'f str> {
    texts(fields, number).next()
}

/// The nested messages of field `number` that parse.
pub(super) fn messages<'f>(fields: &'f [Field], number: u32) -> impl Iterator<Item = Vec<Field<'f>>> {
    fields.iter().filter(move |f| f.number == number).filter_map(|f| match &f.value {
        Value::Len(b) => parse(b).ok(),
        _ => None,
    })
}

pub(super) fn varints(fields: &[Field], number: u32) -> Vec<u64> {
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

/// The float32 values of a tensor, from its raw data or its `float_data` (packed or not).
pub(super) fn floats(tensor: &[Field]) -> Vec<f32> {
    let mut out = Vec::new();
    let mut push = |b: &[u8]| {
        out.extend(b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
    };
    for f in tensor {
        match (&f.value, f.number) {
            (Value::Len(b), TENSOR_RAW_DATA | TENSOR_FLOAT_DATA) => push(b),
            (Value::Fixed32(b), TENSOR_FLOAT_DATA) => push(b),
            _ => {}
        }
    }
    out
}
