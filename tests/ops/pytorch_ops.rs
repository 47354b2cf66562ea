//! Every op case of the PyTorch oracle (`tests/fixtures/ops.safetensors`, written by
//! `tools/gen_fixtures.py`), forward and backward.
//!
//! The fixture's metadata lists its cases as JSON (`{"name", "op", "params"}`); tensors are
//! `<case>/<tensor>`: the inputs, `dy` (a random upstream gradient shaped like `y`), the
//! output `y` and `grad_<input>` = d⟨y, dy⟩/d<input> for every differentiable input (plus a
//! few extra outputs: batch-norm moving averages, the dropout mask). The oracle is computed
//! in float64 from float32-representable inputs and rounded to float32 once, so it is more
//! accurate than anything it checks; every tolerance below is about *our* f32 rounding.
//!
//! Coverage is enforced, not hoped for:
//! * every op named in the file must have a handler here (`every_fixture_op_is_handled`),
//!   so a new fixture case can't be skipped silently;
//! * every tensor a case stores must be consumed by its handler (an unchecked
//!   `grad_<input>` or extra output fails the case);
//! * each family test must find at least one case.
//!
//! Run with `--nocapture` to see the per-check maximum errors.

use cari::autograd::{Gradients, ParamGroup, ParamStore, Tape, Var};
use cari::io::WeightsFile;
use cari::ops::{self, Activation, Conv2dSpec, Padding};
use cari::{Device, Tensor};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

const FIXTURE: &str = "tests/fixtures/ops.safetensors";
const FORMAT_VERSION: &str = "1";
const REGENERATE: &str = "regenerate it with `~/torchenv/bin/python tools/gen_fixtures.py` (see tools/README.md)";

// ---------------------------------------------------------------------------------------
// Tolerances: an element passes when |got − ref| ≤ atol + rtol·|ref|.
// f32 unit roundoff is u = 2⁻²⁴ ≈ 6e-8; the stored reference carries one more rounding of
// ≤ u·|ref|. Each constant below is argued from the arithmetic, then checked against the
// largest error over every case that uses it ("observed", as max err/tol, printed with
// `--nocapture`): all sit at 0.08–0.18 of their tolerance, i.e. ~5–12× headroom.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct Tol {
    atol: f64,
    rtol: f64,
}

/// Pure data movement or a single exactly-representable product (relu, slice, concat,
/// gather forward, max-pool forward, dropout by 2 or 1.25 and its mask, relu/slice/concat
/// backward): the engine must reproduce the oracle's f32 bits. Any difference is a bug
/// (wrong index, wrong tie rule, wrong mask), not rounding. Observed: 0 everywhere.
const EXACT: Tol = Tol { atol: 0.0, rtol: 0.0 };

/// Sums of a handful (≤ 4) of f32 values (max-pool backward where windows overlap,
/// gather-rows backward with repeated indices): the engine rounds after every add, the
/// oracle once; the error is ≤ 2–3 u of partial sums of |dy| ≲ 4, absolute because the
/// sum can cancel. Observed 6e-8 (0.08 of the tolerance, gather_rows_repeat).
const FEW_TERMS: Tol = Tol { atol: 5e-7, rtol: 5e-7 };

/// x + s·up (and its relu): two roundings (s·up, then the add), each ≤ u of values up to
/// |s·up| ~ 4; the sum can cancel to ~0, so the bound needs an absolute part. The backward
/// (dy and s·dy) is one rounding at most. Observed 1.2e-7 (0.14, residual_relu y).
const RESIDUAL: Tol = Tol { atol: 5e-7, rtol: 5e-7 };

/// Conv2d forward and both gradients: dot products over K terms (K = kh·kw·Cin ≤ 45 for
/// y and grad_x, K = N·Ho·Wo ≤ 90 for grad_w) summed in another order than the float64
/// oracle: error ≲ √K..K · u · Σ|terms|. grad_w sums x·dy of two unit normals, so
/// |grad_w| reaches ~30 and its error ~K·u·10 ≈ 5e-6 absolute; outputs near zero come out
/// of cancelling sums, hence the absolute part. Observed 5.7e-6 (0.18, conv_1x7_s1_same
/// grad_w); y and grad_x stay below 7.2e-7.
const CONV: Tol = Tol { atol: 1e-5, rtol: 1e-5 };

/// Linear: like conv, with short sums (y over `in` ≤ 13 terms, grad_w over the batch ≤ 5,
/// grad_x over `out` ≤ 5) plus the bias add. Observed 4.8e-7 (0.11, linear grad_w).
const LINEAR: Tol = Tol { atol: 5e-7, rtol: 1e-6 };

/// Batch-norm forward (training): mean and variance are reductions over N·H·W ≤ 105 values
/// of |x| ≲ 8 (std 2, mean 0.5), then (x − μ)/√(σ² + ε) + β; the relative error of μ and
/// σ² is a few u, giving a few 1e-7 absolute on |y| ≲ 4.
/// Batch-norm inference: (x − m)/√(v + ε) + β elementwise, a handful of roundings of values
/// ≲ 10 (|x| std 1.5 over √v ≥ √0.5); its backward is dy/√(v + ε) and dy (one rounding).
/// Observed 3.6e-7 (0.12, batch_norm_train y) and 2.4e-7 (0.10, batch_norm_infer y).
const BN_FORWARD: Tol = Tol { atol: 1e-6, rtol: 1e-6 };
const BN_INFER: Tol = BN_FORWARD;

/// Batch-norm backward (training): dx = (dy − mean(dy) − x̂·mean(dy·x̂))/σ subtracts two
/// means from dy, so the absolute error scales with |dy|·u/σ times the number of rounding
/// steps rather than with |dx|, which can be tiny (most of all for N·H·W = 3, where dx is
/// nearly annihilated). grad_beta is a plain sum of dy over ≤ 105 terms.
/// Observed 4.8e-7 (0.12, batch_norm_train_1x1 grad_x).
const BN_BACKWARD: Tol = Tol { atol: 2e-6, rtol: 1e-6 };

/// Batch statistics recovered from the fixture's moving averages: batch = (out −
/// decay·in)/(1 − decay) amplifies the stored f32 rounding of `out` (≤ u·|out|/2 … u·|out|)
/// by 1/(1−decay) = 200: up to ~1e-5 absolute for the mean (|out| ≲ 0.7) and ~2e-5 for
/// the variance (|out| ≲ 1.6; the Bessel division shrinks it a little), on top of our own
/// reduction error (a few u relative). This tolerance is set by that amplified reference
/// rounding, not by the engine. Observed 1.1e-5 (0.15, batch_norm_train stats.variance).
const BN_STATS: Tol = Tol { atol: 4e-5, rtol: 1e-5 };

/// Moving averages decay·in + (1−decay)·batch computed by the library's own rule in f32 (a
/// few roundings of values ≲ 1.6) against the oracle rounded once: a few u of |out|.
/// Observed 1.2e-7 (0.12, batch_norm_train_n1 moving_var_out).
const BN_MOVING: Tol = Tol { atol: 5e-7, rtol: 5e-7 };

/// Global average pool: a mean over H·W ≤ 15 values of unit normals (forward; can cancel,
/// hence the absolute part), dy/(H·W) (backward: one rounding of the division).
/// Observed 1.5e-8 (0.09, global_avg_pool grad_x); the forward matched bit for bit.
const AVG_POOL: Tol = Tol { atol: 1e-7, rtol: 5e-7 };

/// Row-wise normalisations (l2 normalise, softmax over ≤ 7 columns): a reduction over a
/// row, a sqrt/exp, a division; the backward subtracts a ⟨dy, y⟩ projection, which
/// cancels, so the absolute error scales with |dy|·u·cols rather than with |dx|. The
/// l2_normalize_tiny row has |x| ~ 1e-6 and the clamp scales it by 1e5, so its
/// gradients are ~1e5 large and the relative part is what covers them.
/// Observed 1.2e-7 (0.12, l2_normalize grad_x).
const ROW_NORM: Tol = Tol { atol: 2e-7, rtol: 1e-6 };

/// Losses: −log softmax via a log-sum-exp over ≤ 5 logits of |x| ≲ 6 (a few u of the
/// log-sum-exp); center loss ½‖e − c‖² sums ≤ 7 squares (a few u relative). Gradients
/// (softmax − onehot)·dy and (e − c)·dy: a few roundings.
/// Observed 1.2e-7 (0.08, center_loss grad_e; 0.06 for softmax_cross_entropy_b1).
const LOSS: Tol = Tol { atol: 3e-7, rtol: 1e-6 };

// ---------------------------------------------------------------------------------------
// A minimal JSON reader for the `cases` metadata (the crate has no JSON dependency).
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
#[allow(dead_code)] // Bool/Null payloads are parsed but no case param uses them yet
enum Json {
    Null,
    Bool(bool),
    /// The number's source text, so that integers (e.g. 64-bit seeds) are read exactly.
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &str) -> Result<Json, String> {
        let mut p = JsonParser { s: text.as_bytes(), i: 0 };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing characters at byte {}", p.i));
        }
        Ok(v)
    }

    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(kv) => kv.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected `{}` at byte {}", c as char, self.i))
        }
    }

    fn literal(&mut self, word: &str, v: Json) -> Result<Json, String> {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(format!("bad literal at byte {}", self.i))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.peek().ok_or("unexpected end of JSON")? {
            b'{' => {
                self.i += 1;
                let mut kv = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(kv));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.expect(b':')?;
                    kv.push((k, self.value()?));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(kv));
                        }
                        _ => return Err(format!("expected `,` or `}}` at byte {}", self.i)),
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return Err(format!("expected `,` or `]` at byte {}", self.i)),
                    }
                }
            }
            b'"' => Ok(Json::Str(self.string()?)),
            b't' => self.literal("true", Json::Bool(true)),
            b'f' => self.literal("false", Json::Bool(false)),
            b'n' => self.literal("null", Json::Null),
            _ => {
                let start = self.i;
                while self.peek().is_some_and(|c| c.is_ascii_digit() || b"+-.eE".contains(&c)) {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).unwrap().to_string();
                text.parse::<f64>().map_err(|_| format!("bad number `{text}` at byte {start}"))?;
                Ok(Json::Num(text))
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        if self.peek() != Some(b'"') {
            return Err(format!("expected a string at byte {}", self.i));
        }
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let c = self.peek().ok_or("unterminated string")?;
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                b'\\' => {
                    let e = self.peek().ok_or("unterminated escape")?;
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'u' => {
                            let hex = std::str::from_utf8(self.s.get(self.i..self.i + 4).ok_or("short \\u escape")?)
                                .map_err(|e| e.to_string())?;
                            let cp = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
                            self.i += 4;
                            let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                            out.extend_from_slice(ch.to_string().as_bytes());
                        }
                        _ => return Err(format!("bad escape at byte {}", self.i)),
                    }
                }
                _ => out.push(c),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Fixture and cases.
// ---------------------------------------------------------------------------------------

struct CaseSpec {
    name: String,
    op: String,
    params: Json,
}

struct Fixture {
    file: WeightsFile,
    cases: Vec<CaseSpec>,
}

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(FIXTURE)
}

impl Fixture {
    fn load() -> Fixture {
        let path = fixture_path();
        let file =
            WeightsFile::open(&path).unwrap_or_else(|e| panic!("cannot open {}: {e}; {REGENERATE}", path.display()));
        let meta = file.metadata();
        let version = meta.get("format_version").map(String::as_str);
        assert_eq!(
            version,
            Some(FORMAT_VERSION),
            "{}: fixture format_version is {version:?}, this test reads version {FORMAT_VERSION:?}; {REGENERATE}",
            path.display()
        );
        let cases_text =
            meta.get("cases").unwrap_or_else(|| panic!("{}: no `cases` metadata; {REGENERATE}", path.display()));
        let json =
            Json::parse(cases_text).unwrap_or_else(|e| panic!("{}: `cases` is not valid JSON: {e}", path.display()));
        let Json::Arr(items) = json else { panic!("{}: `cases` is not a JSON list", path.display()) };
        let cases = items
            .into_iter()
            .map(|c| {
                let field = |k: &str| {
                    c.get(k)
                        .and_then(Json::as_str)
                        .unwrap_or_else(|| panic!("case without string `{k}`: {c:?}"))
                        .to_string()
                };
                CaseSpec {
                    name: field("name"),
                    op: field("op"),
                    params: c.get("params").cloned().unwrap_or(Json::Obj(vec![])),
                }
            })
            .collect::<Vec<_>>();
        assert!(!cases.is_empty(), "{}: no cases", path.display());
        let mut names = BTreeSet::new();
        for c in &cases {
            assert!(names.insert(c.name.clone()), "duplicate case name {}", c.name);
        }
        Fixture { file, cases }
    }
}

type CaseResult = Result<(), Box<dyn std::error::Error>>;

/// One case being checked: reads its tensors (recording which), compares, logs.
struct Case<'a> {
    file: &'a WeightsFile,
    spec: &'a CaseSpec,
    used: RefCell<BTreeSet<String>>,
    log: RefCell<String>,
    failures: RefCell<Vec<String>>,
}

fn cpu() -> Device {
    Device::cpu()
}

impl<'a> Case<'a> {
    fn key(&self, t: &str) -> String {
        format!("{}/{t}", self.spec.name)
    }

    fn tensor(&self, t: &str) -> Result<Tensor, Box<dyn std::error::Error>> {
        let key = self.key(t);
        if !self.file.contains(&key) {
            return Err(format!("fixture has no tensor `{key}`").into());
        }
        self.used.borrow_mut().insert(t.to_string());
        Ok(self.file.tensor(&key, &cpu())?)
    }

    fn leaf(&self, tape: &Tape, t: &str) -> Result<Var, Box<dyn std::error::Error>> {
        Ok(tape.leaf(t, self.tensor(t)?))
    }

    /// Labels / indices stored as f32 holding exact non-negative integers.
    fn indices(&self, t: &str) -> Result<Vec<usize>, Box<dyn std::error::Error>> {
        self.tensor(t)?
            .to_vec()?
            .iter()
            .map(|&v| {
                if v >= 0.0 && v.fract() == 0.0 && v < 1e7 {
                    Ok(v as usize)
                } else {
                    Err(format!("{}: `{t}` holds {v}, not a non-negative integer", self.spec.name).into())
                }
            })
            .collect()
    }

    fn param(&self, k: &str) -> Result<&Json, Box<dyn std::error::Error>> {
        self.spec.params.get(k).ok_or_else(|| format!("case {}: no param `{k}`", self.spec.name).into())
    }

    fn param_f64(&self, k: &str) -> Result<f64, Box<dyn std::error::Error>> {
        match self.param(k)? {
            Json::Num(t) => Ok(t.parse()?),
            other => Err(format!("param `{k}` is not a number: {other:?}").into()),
        }
    }

    fn param_usize(&self, k: &str) -> Result<usize, Box<dyn std::error::Error>> {
        match self.param(k)? {
            Json::Num(t) => Ok(t.parse::<usize>().map_err(|_| format!("param `{k}` = {t} is not an integer"))?),
            other => Err(format!("param `{k}` is not a number: {other:?}").into()),
        }
    }

    fn param_u64(&self, k: &str) -> Result<u64, Box<dyn std::error::Error>> {
        match self.param(k)? {
            Json::Num(t) => Ok(t.parse::<u64>().map_err(|_| format!("param `{k}` = {t} is not a u64"))?),
            other => Err(format!("param `{k}` is not a number: {other:?}").into()),
        }
    }

    fn param_str(&self, k: &str) -> Result<&str, Box<dyn std::error::Error>> {
        self.param(k)?.as_str().ok_or_else(|| format!("param `{k}` is not a string").into())
    }

    /// Compares `got` with the fixture tensor `t` (shape and values) and logs the errors.
    fn check(&self, t: &str, got: &Tensor, tol: Tol) -> CaseResult {
        let want_t = self.tensor(t)?;
        if got.dims() != want_t.dims() {
            self.fail(format!("{}/{t}: shape {:?}, reference {:?}", self.spec.name, got.dims(), want_t.dims()));
            return Ok(());
        }
        self.check_values_shaped(t, &got.to_vec()?, &want_t.to_vec()?, want_t.dims(), tol);
        Ok(())
    }

    fn check_values(&self, what: &str, got: &[f32], want: &[f32], tol: Tol) {
        self.check_values_shaped(what, got, want, &[want.len()], tol);
    }

    fn check_values_shaped(&self, what: &str, got: &[f32], want: &[f32], dims: &[usize], tol: Tol) {
        if got.len() != want.len() {
            self.fail(format!("{}/{what}: {} values, reference {}", self.spec.name, got.len(), want.len()));
            return;
        }
        let c = compare(got, want, tol);
        let _ = writeln!(
            self.log.borrow_mut(),
            "  {:<28} {:<16} n={:<5} max|err|={:.3e}  max err/tol={:.3}  (atol {:.0e}, rtol {:.0e})",
            self.spec.name,
            what,
            got.len(),
            c.max_abs,
            c.max_ratio,
            tol.atol,
            tol.rtol
        );
        if let Some((i, g, w)) = c.first_bad {
            self.fail(format!(
                "{}/{what}: {} of {} elements out of tolerance (atol {:e}, rtol {:e}); first at flat index {i}: \
                 {:?} of shape {dims:?}: got {g:e}, reference {w:e} (|err| {:e}); max |err| {:e}, max err/tol {:.3}",
                self.spec.name,
                c.n_bad,
                got.len(),
                tol.atol,
                tol.rtol,
                unravel(i, dims),
                (f64::from(g) - f64::from(w)).abs(),
                c.max_abs,
                c.max_ratio
            ));
        }
    }

    fn fail(&self, msg: String) {
        self.failures.borrow_mut().push(msg);
    }

    /// Forward check of `y`, then backward with the fixture's `dy` and a check of
    /// `grad_<name>` for each `(name, tol)` in `grads`.
    fn check_forward_backward(&self, y: &Var, y_tol: Tol, grads: &[(&str, Tol)]) -> CaseResult {
        self.check("y", y.value(), y_tol)?;
        let g = backward(y, self.tensor("dy")?)?;
        for &(name, tol) in grads {
            let Some(gt) = g.get(name) else {
                self.fail(format!("{}: no gradient reached input `{name}`", self.spec.name));
                continue;
            };
            self.check(&format!("grad_{name}"), gt, tol)?;
        }
        Ok(())
    }

    /// Every tensor the fixture stores for this case must have been read.
    fn unused_tensors(&self) -> Vec<String> {
        let prefix = format!("{}/", self.spec.name);
        let used = self.used.borrow();
        self.file
            .names()
            .into_iter()
            .filter_map(|n| n.strip_prefix(&prefix))
            .filter(|t| !used.contains(*t))
            .map(str::to_string)
            .collect()
    }
}

/// Gradients of ⟨y, dy⟩: the loss Σ y·dy has gradient exactly dy at y.
fn backward(y: &Var, dy: Tensor) -> cari::Result<Gradients> {
    ops::sum(&ops::mul(y, &Var::constant(dy))?)?.backward()
}

/// The multi-index of flat (row-major) index `i` in `dims`.
fn unravel(mut i: usize, dims: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; dims.len()];
    for (k, &d) in dims.iter().enumerate().rev() {
        if d > 0 {
            idx[k] = i % d;
            i /= d;
        }
    }
    idx
}

struct Comparison {
    max_abs: f64,
    max_ratio: f64,
    n_bad: usize,
    first_bad: Option<(usize, f32, f32)>,
}

fn compare(got: &[f32], want: &[f32], tol: Tol) -> Comparison {
    let mut c = Comparison { max_abs: 0.0, max_ratio: 0.0, n_bad: 0, first_bad: None };
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (f64::from(g) - f64::from(w)).abs();
        let bound = tol.atol + tol.rtol * f64::from(w).abs();
        // NaN-safe: a NaN error is a failure and poisons the maxima.
        let ok = if bound == 0.0 { g.to_bits() == w.to_bits() || (g == w) } else { err <= bound };
        if err.is_nan() || err > c.max_abs {
            c.max_abs = if err.is_nan() { f64::NAN } else { err.max(c.max_abs) };
        }
        let ratio = if bound == 0.0 {
            if err == 0.0 {
                0.0
            } else {
                f64::INFINITY
            }
        } else {
            err / bound
        };
        if ratio.is_nan() || ratio > c.max_ratio {
            c.max_ratio = if ratio.is_nan() { f64::NAN } else { ratio };
        }
        if !ok {
            c.n_bad += 1;
            if c.first_bad.is_none() {
                c.first_bad = Some((i, g, w));
            }
        }
    }
    c
}

// ---------------------------------------------------------------------------------------
// Handlers, one per fixture op.
// ---------------------------------------------------------------------------------------

fn conv2d(c: &Case) -> CaseResult {
    let stride = c.param_usize("stride")?;
    let padding = match c.param_str("padding")? {
        "SAME" => Padding::Same,
        "VALID" => Padding::Valid,
        p => return Err(format!("unknown padding {p:?}").into()),
    };
    let tape = Tape::new();
    let x = c.leaf(&tape, "x")?;
    let w = c.leaf(&tape, "w")?;
    let (kh, kw) = (c.param_usize("kernel_h")?, c.param_usize("kernel_w")?);
    if w.dims()[..2] != [kh, kw] {
        return Err(format!("weights {:?} disagree with params kernel {kh}x{kw}", w.dims()).into());
    }
    let y = ops::conv2d(&x, &w, Conv2dSpec { stride, padding })?;
    c.check_forward_backward(&y, CONV, &[("x", CONV), ("w", CONV)])
}

fn batch_norm_train(c: &Case) -> CaseResult {
    let eps = c.param_f64("eps")? as f32;
    let decay = c.param_f64("decay")?;
    assert_eq!(decay as f32, cari::nn::BN_DECAY, "{}: fixture decay differs from cari::nn::BN_DECAY", c.spec.name);
    let tape = Tape::new();
    let x = c.leaf(&tape, "x")?;
    let beta = c.leaf(&tape, "beta")?;
    let (y, stats) = ops::batch_norm_train(&x, &beta, eps, Activation::Identity)?;
    c.check_forward_backward(&y, BN_FORWARD, &[("x", BN_BACKWARD), ("beta", BN_BACKWARD)])?;

    let dims = x.dims();
    let n = dims[..dims.len() - 1].iter().product::<usize>();
    if stats.count != n {
        c.fail(format!("{}: stats.count = {}, expected N·H·W = {n}", c.spec.name, stats.count));
    }

    // The batch statistics the engine used, against those implied by the fixture's moving
    // averages: out = decay·in + (1 − decay)·batch, variance Bessel-corrected (n/(n−1)).
    let mm_in = c.tensor("moving_mean_in")?;
    let mv_in = c.tensor("moving_var_in")?;
    let implied = |out: &str, inp: &Tensor| -> Result<Vec<f32>, Box<dyn std::error::Error>> {
        let out = c.tensor(out)?.to_vec()?;
        Ok(out
            .iter()
            .zip(inp.to_vec()?)
            .map(|(&o, i)| ((f64::from(o) - decay * f64::from(i)) / (1.0 - decay)) as f32)
            .collect())
    };
    let bessel = if n > 1 { n as f64 / (n - 1) as f64 } else { 1.0 };
    let batch_mean = implied("moving_mean_out", &mm_in)?;
    let batch_var: Vec<f32> =
        implied("moving_var_out", &mv_in)?.iter().map(|&v| (f64::from(v) / bessel) as f32).collect();
    c.check_values("stats.mean", &stats.mean.to_vec()?, &batch_mean, BN_STATS);
    c.check_values("stats.variance", &stats.variance.to_vec()?, &batch_var, BN_STATS);

    // And the moving averages themselves, through the library's own update rule.
    let scope = "bn";
    let mut store = ParamStore::new();
    store.insert(format!("{scope}/BatchNorm/moving_mean"), mm_in, ParamGroup::Buffers)?;
    store.insert(format!("{scope}/BatchNorm/moving_variance"), mv_in, ParamGroup::Buffers)?;
    let gate = cari::optim::open_gate(store.get(&format!("{scope}/BatchNorm/moving_mean"))?.device())?;
    cari::model::update_moving_averages(&mut store, &[(scope.to_string(), stats)], &gate)?;
    c.check("moving_mean_out", store.get(&format!("{scope}/BatchNorm/moving_mean"))?, BN_MOVING)?;
    c.check("moving_var_out", store.get(&format!("{scope}/BatchNorm/moving_variance"))?, BN_MOVING)?;
    Ok(())
}

fn batch_norm_infer(c: &Case) -> CaseResult {
    let eps = c.param_f64("eps")? as f32;
    let tape = Tape::new();
    let x = c.leaf(&tape, "x")?;
    let beta = c.leaf(&tape, "beta")?;
    let y = ops::batch_norm_infer(
        &x,
        &beta,
        &c.tensor("moving_mean")?,
        &c.tensor("moving_var")?,
        eps,
        Activation::Identity,
    )?;
    c.check_forward_backward(&y, BN_INFER, &[("x", BN_INFER), ("beta", BN_INFER)])
}

fn relu(c: &Case) -> CaseResult {
    let tape = Tape::new();
    let x = c.leaf(&tape, "x")?;
    let y = ops::relu(&x)?;
    c.check_forward_backward(&y, EXACT, &[("x", EXACT)])
}

fn max_pool(c: &Case) -> CaseResult {
    let (k, s) = (c.param_usize("kernel")?, c.param_usize("stride")?);
    if c.param_str("padding")? != "VALID" {
        return Err("max_pool2d supports VALID padding only".into());
    }
    let tape = Tape::new();
    let x = c.leaf(&tape, "x")?;
    let y = ops::max_pool2d(&x, k, s)?;
    c.check_forward_backward(&y, EXACT, &[("x", FEW_TERMS)])
}

fn global_avg_pool(c: &Case) -> CaseResult {
    let tape = Tape::new();
    let x = c.leaf(&tape, "x")?;
    let y = ops::global_avg_pool(&x)?;
    c.check_forward_backward(&y, AVG_POOL, &[("x", AVG_POOL)])
}

fn concat(c: &Case) -> CaseResult {
    let axis = c.param_usize("axis")?;
    let tape = Tape::new();
    let mut names = Vec::new();
    while c.file.contains(&c.key(&format!("x{}", names.len()))) {
        names.push(format!("x{}", names.len()));
    }
    let parts = names.iter().map(|n| c.leaf(&tape, n)).collect::<Result<Vec<_>, _>>()?;
    if parts.is_empty() || axis + 1 != parts[0].dims().len() {
        return Err(
            format!("concat of {} parts along axis {axis}: only the last axis is supported", parts.len()).into()
        );
    }
    let y = ops::concat_channels(&parts.iter().collect::<Vec<_>>())?;
    let grads: Vec<(&str, Tol)> = names.iter().map(|n| (n.as_str(), EXACT)).collect();
    c.check_forward_backward(&y, EXACT, &grads)
}

fn slice(c: &Case) -> CaseResult {
    let (axis, start, len) = (c.param_usize("axis")?, c.param_usize("start")?, c.param_usize("len")?);
    let tape = Tape::new();
    let x = c.leaf(&tape, "x")?;
    if axis + 1 != x.dims().len() {
        return Err(format!("slice along axis {axis}: only the last axis is supported").into());
    }
    let y = ops::slice_channels(&x, start, len)?;
    c.check_forward_backward(&y, EXACT, &[("x", EXACT)])
}

fn residual(c: &Case) -> CaseResult {
    residual_impl(c, false)
}

fn residual_relu(c: &Case) -> CaseResult {
    residual_impl(c, true)
}

fn residual_impl(c: &Case, with_relu: bool) -> CaseResult {
    let scale = c.param_f64("scale")? as f32;
    let tape = Tape::new();
    let x = c.leaf(&tape, "x")?;
    let up = c.leaf(&tape, "up")?;
    let mut y = ops::add_scaled(&x, &up, scale)?;
    if with_relu {
        y = ops::relu(&y)?;
    }
    c.check_forward_backward(&y, RESIDUAL, &[("x", RESIDUAL), ("up", RESIDUAL)])
}

fn linear(c: &Case) -> CaseResult {
    let tape = Tape::new();
    let x = c.leaf(&tape, "x")?;
    let w = c.leaf(&tape, "w")?;
    let b = c.leaf(&tape, "b")?;
    let y = ops::linear(&x, &w, &b, Activation::Identity)?;
    c.check_forward_backward(&y, LINEAR, &[("x", LINEAR), ("w", LINEAR), ("b", LINEAR)])
}

fn dropout(c: &Case) -> CaseResult {
    let keep = c.param_f64("keep")? as f32;
    let seed = c.param_u64("seed")?;
    let tape = Tape::new();
    let x = c.leaf(&tape, "x")?;
    let y = ops::dropout(&x, keep, seed)?;
    c.check_forward_backward(&y, EXACT, &[("x", EXACT)])?;
    // The mask itself: dropout of ones (1/keep is 2 or 1.25, exact in f32).
    let ones = Tensor::full(1.0, x.shape().clone(), &cpu())?;
    let mask = ops::dropout(&Var::constant(ones), keep, seed)?;
    c.check("mask", mask.value(), EXACT)
}

fn l2_normalize(c: &Case) -> CaseResult {
    let eps = c.param_f64("eps")? as f32;
    let tape = Tape::new();
    let x = c.leaf(&tape, "x")?;
    let y = ops::l2_normalize(&x, eps)?;
    c.check_forward_backward(&y, ROW_NORM, &[("x", ROW_NORM)])
}

fn softmax(c: &Case) -> CaseResult {
    let tape = Tape::new();
    let x = c.leaf(&tape, "x")?;
    let y = ops::softmax(&x)?;
    c.check_forward_backward(&y, ROW_NORM, &[("x", ROW_NORM)])
}

fn softmax_cross_entropy(c: &Case) -> CaseResult {
    let tape = Tape::new();
    let logits = c.leaf(&tape, "logits")?;
    let labels = c.indices("labels")?;
    let y = ops::softmax_cross_entropy(&logits, &labels)?;
    c.check_forward_backward(&y, LOSS, &[("logits", LOSS)])
}

fn center_loss(c: &Case) -> CaseResult {
    let tape = Tape::new();
    let e = c.leaf(&tape, "e")?;
    let labels = c.indices("labels")?;
    let y = ops::center_loss(&e, &c.tensor("centers")?, &labels)?;
    c.check_forward_backward(&y, LOSS, &[("e", LOSS)])
}

fn gather_rows(c: &Case) -> CaseResult {
    let tape = Tape::new();
    let x = c.leaf(&tape, "x")?;
    let index = c.indices("index")?;
    let y = ops::gather_rows(&x, &index)?;
    c.check_forward_backward(&y, EXACT, &[("x", FEW_TERMS)])
}

type Handler = fn(&Case) -> CaseResult;

/// Every fixture op this test knows, with its handler.
const HANDLERS: &[(&str, Handler)] = &[
    ("conv2d", conv2d),
    ("batch_norm_train", batch_norm_train),
    ("batch_norm_infer", batch_norm_infer),
    ("relu", relu),
    ("max_pool", max_pool),
    ("global_avg_pool", global_avg_pool),
    ("concat", concat),
    ("slice", slice),
    ("residual", residual),
    ("residual_relu", residual_relu),
    ("linear", linear),
    ("dropout", dropout),
    ("l2_normalize", l2_normalize),
    ("softmax", softmax),
    ("softmax_cross_entropy", softmax_cross_entropy),
    ("center_loss", center_loss),
    ("gather_rows", gather_rows),
];

/// The test functions below, by the ops each one runs.
const FAMILIES: &[&[&str]] = &[
    &["conv2d"],
    &["batch_norm_train", "batch_norm_infer"],
    &["relu", "residual", "residual_relu"],
    &["max_pool", "global_avg_pool"],
    &["concat", "slice", "gather_rows"],
    &["linear"],
    &["dropout"],
    &["l2_normalize", "softmax"],
    &["softmax_cross_entropy", "center_loss"],
];

fn run_family(ops: &[&str]) {
    let fx = Fixture::load();
    let mut failures = Vec::new();
    let mut log = String::new();
    let mut n = 0;
    for spec in fx.cases.iter().filter(|c| ops.contains(&c.op.as_str())) {
        n += 1;
        let handler = HANDLERS
            .iter()
            .find(|(op, _)| *op == spec.op)
            .unwrap_or_else(|| panic!("case {}: no handler for op {:?}", spec.name, spec.op))
            .1;
        let case = Case {
            file: &fx.file,
            spec,
            used: RefCell::default(),
            log: RefCell::default(),
            failures: RefCell::default(),
        };
        match catch_unwind(AssertUnwindSafe(|| handler(&case))) {
            Ok(Ok(())) => {
                let unused = case.unused_tensors();
                if !unused.is_empty() {
                    case.fail(format!("{}: fixture tensors not checked by the handler: {unused:?}", spec.name));
                }
            }
            Ok(Err(e)) => case.fail(format!("{} ({}): error: {e}", spec.name, spec.op)),
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "<non-string panic>".into());
                case.fail(format!("{} ({}): panicked: {msg}", spec.name, spec.op));
            }
        }
        let case_failures = case.failures.into_inner();
        let _ = writeln!(log, "{} {} ({})", if case_failures.is_empty() { "PASS" } else { "FAIL" }, spec.name, spec.op);
        log.push_str(&case.log.into_inner());
        failures.extend(case_failures);
    }
    println!("{log}");
    assert!(n > 0, "no fixture case for ops {ops:?}");
    assert!(failures.is_empty(), "{} failure(s):\n{}\n\nall checks:\n{log}", failures.len(), failures.join("\n"));
}

#[test]
fn conv2d_cases() {
    run_family(FAMILIES[0]);
}

#[test]
fn batch_norm_cases() {
    run_family(FAMILIES[1]);
}

#[test]
fn relu_and_residual_cases() {
    run_family(FAMILIES[2]);
}

#[test]
fn pooling_cases() {
    run_family(FAMILIES[3]);
}

#[test]
fn layout_cases() {
    run_family(FAMILIES[4]);
}

#[test]
fn linear_cases() {
    run_family(FAMILIES[5]);
}

#[test]
fn dropout_cases() {
    run_family(FAMILIES[6]);
}

#[test]
fn row_normalisation_cases() {
    run_family(FAMILIES[7]);
}

#[test]
fn loss_cases() {
    run_family(FAMILIES[8]);
}

/// The set of ops in the fixture, the set with a handler here and the set the family tests
/// run must all be equal: a new fixture op fails here until it is handled and tested.
#[test]
fn every_fixture_op_is_handled() {
    let fx = Fixture::load();
    let in_file: BTreeSet<&str> = fx.cases.iter().map(|c| c.op.as_str()).collect();
    let handled: BTreeSet<&str> = HANDLERS.iter().map(|(op, _)| *op).collect();
    let mut run: BTreeMap<&str, usize> = BTreeMap::new();
    for fam in FAMILIES {
        for op in *fam {
            *run.entry(op).or_default() += 1;
        }
    }
    assert!(run.values().all(|&k| k == 1), "an op is in more than one family: {run:?}");
    let run: BTreeSet<&str> = run.into_keys().collect();
    let unhandled: Vec<_> = in_file.difference(&handled).collect();
    assert!(unhandled.is_empty(), "fixture ops without a handler in tests/ops/pytorch_ops.rs: {unhandled:?}");
    let stale: Vec<_> = handled.difference(&in_file).collect();
    assert!(stale.is_empty(), "handlers for ops the fixture no longer has: {stale:?}");
    assert_eq!(handled, run, "every handled op must be run by exactly one family test");
}
