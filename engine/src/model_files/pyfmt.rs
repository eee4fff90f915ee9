//! Python-compatible formatting used by chat templates, because transformers renders them
//! with Python's behaviour and the prompt must match byte for byte:
//! * `tojson` = `json.dumps(x, ensure_ascii=False, indent=None, separators=None,
//!   sort_keys=False)`: `", "` / `": "` separators, no HTML escaping (minijinja's built-in
//!   escapes `<`, `>`, `&`, `'`), floats printed like Python's `repr`.
//! * `strftime_now(fmt)`: `datetime.now().strftime(fmt)` for the common directives (UTC).
use std::fmt::Write;

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};

/// [`dumps`] fails beyond this output size. A template pays fuel for the result only once it
/// is returned, so without a cap a long indent repeated per level and item could build
/// gigabytes first.
pub const MAX_DUMP_BYTES: usize = 64 << 20;

/// Options of Python's `json.dumps`.
#[derive(Clone, Debug, Default)]
pub struct DumpOptions {
    pub ensure_ascii: bool,
    /// `None` → single line; `Some(s)` → newline + `s` repeated per level.
    pub indent: Option<String>,
    /// `(item, key)` separators; default `(", ", ": ")`, or `(",", ": ")` with an indent.
    pub separators: Option<(String, String)>,
    pub sort_keys: bool,
}

/// Serializes a template value like `json.dumps`.
pub fn dumps(value: &Value, opts: &DumpOptions) -> Result<String, Error> {
    let (item_sep, key_sep) = match &opts.separators {
        Some((i, k)) => (i.clone(), k.clone()),
        None if opts.indent.is_some() => (",".into(), ": ".into()),
        None => (", ".into(), ": ".into()),
    };
    let mut w = Writer {
        out: String::new(),
        opts,
        item_sep,
        key_sep,
    };
    w.value(value, 0)?;
    Ok(w.out)
}

struct Writer<'a> {
    out: String,
    opts: &'a DumpOptions,
    item_sep: String,
    key_sep: String,
}

impl Writer<'_> {
    fn value(&mut self, v: &Value, depth: usize) -> Result<(), Error> {
        if depth > 512 {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "tojson: value nested too deeply",
            ));
        }
        if self.out.len() > MAX_DUMP_BYTES {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("tojson: output exceeds the limit of {MAX_DUMP_BYTES} bytes"),
            ));
        }
        match v.kind() {
            ValueKind::None => self.out.push_str("null"),
            ValueKind::Bool => self
                .out
                .push_str(if v.is_true() { "true" } else { "false" }),
            ValueKind::Number => self.number(v),
            ValueKind::String => self.string(v.as_str().unwrap_or_default()),
            ValueKind::Seq | ValueKind::Iterable => {
                let items: Vec<Value> = v.try_iter()?.collect();
                self.container('[', ']', items.len(), depth, |w, i, d| {
                    w.value(&items[i], d)
                })?;
            }
            ValueKind::Map => {
                let mut pairs = Vec::new();
                for key in v.try_iter()? {
                    let val = v.get_item(&key)?;
                    pairs.push((self.key(&key)?, val));
                }
                if self.opts.sort_keys {
                    pairs.sort_by(|a, b| a.0.cmp(&b.0));
                }
                self.container('{', '}', pairs.len(), depth, |w, i, d| {
                    w.string(&pairs[i].0);
                    let sep = w.key_sep.clone();
                    w.out.push_str(&sep);
                    w.value(&pairs[i].1, d)
                })?;
            }
            kind => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("tojson: object of type {kind} is not JSON serializable"),
                ));
            }
        }
        Ok(())
    }

    fn container(
        &mut self,
        open: char,
        close: char,
        len: usize,
        depth: usize,
        mut item: impl FnMut(&mut Self, usize, usize) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.out.push(open);
        if len == 0 {
            self.out.push(close);
            return Ok(());
        }
        let indent = self.opts.indent.clone();
        for i in 0..len {
            if i > 0 {
                let sep = self.item_sep.clone();
                self.out.push_str(&sep);
            }
            if let Some(ind) = &indent {
                self.out.push('\n');
                self.out.push_str(&ind.repeat(depth + 1));
            }
            item(self, i, depth + 1)?;
        }
        if let Some(ind) = &indent {
            self.out.push('\n');
            self.out.push_str(&ind.repeat(depth));
        }
        self.out.push(close);
        Ok(())
    }

    /// Python converts str/int/float/bool/None keys to strings.
    fn key(&self, k: &Value) -> Result<String, Error> {
        match k.kind() {
            ValueKind::String => Ok(k.as_str().unwrap_or_default().to_string()),
            ValueKind::None => Ok("null".into()),
            ValueKind::Bool => Ok(if k.is_true() { "true" } else { "false" }.into()),
            ValueKind::Number => {
                let mut tmp = Writer {
                    out: String::new(),
                    opts: self.opts,
                    item_sep: String::new(),
                    key_sep: String::new(),
                };
                tmp.number(k);
                Ok(tmp.out)
            }
            kind => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("tojson: keys must be str, int, float, bool or None, not {kind}"),
            )),
        }
    }

    fn number(&mut self, v: &Value) {
        if v.is_integer() {
            // Integers print exactly (i64/u64/i128/u128 all Display as plain digits).
            let _ = write!(self.out, "{v}");
        } else {
            let x = f64::try_from(v.clone()).unwrap_or(f64::NAN);
            self.out.push_str(&float_repr(x));
        }
    }

    fn string(&mut self, s: &str) {
        self.out.push('"');
        for c in s.chars() {
            match c {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                '\r' => self.out.push_str("\\r"),
                '\t' => self.out.push_str("\\t"),
                '\u{8}' => self.out.push_str("\\b"),
                '\u{c}' => self.out.push_str("\\f"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.out, "\\u{:04x}", c as u32);
                }
                c if self.opts.ensure_ascii && !c.is_ascii() => {
                    let mut buf = [0u16; 2];
                    for unit in c.encode_utf16(&mut buf) {
                        let _ = write!(self.out, "\\u{unit:04x}");
                    }
                }
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }
}

/// Python's `repr(float)` (as used by `json.dumps`): shortest round-trip digits, fixed
/// notation for exponents in [-4, 16), else `d.ddde±XX`; non-finite as `NaN`/`Infinity`.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if x.is_sign_negative() { "-" } else { "" };
    let body = if (-4..16).contains(&exp) {
        let point = exp + 1;
        if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            let (a, b) = digits.split_at(point as usize);
            format!("{a}.{b}")
        }
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{first}{frac}e{esign}{:02}", exp.abs())
    };
    format!("{sign}{body}")
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// `strftime` of a Unix timestamp (seconds, UTC) for the directives chat templates use:
/// `%Y %y %m %d %e %j %H %I %M %S %p %B %b %h %A %a %u %w %F %T %D %%`, plus glibc's `%-d`
/// style "no padding" flag. Unknown directives are kept verbatim, like glibc does.
pub fn strftime(secs: i64, fmt: &str) -> String {
    let days = secs.div_euclid(86400);
    let sod = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (sod / 3600, sod / 60 % 60, sod % 60);
    let weekday = (days + 3).rem_euclid(7) as usize; // 1970-01-01 was a Thursday (Mon = 0)
    let yday = days - days_from_civil(y, 1, 1) + 1;
    let h12 = if hh % 12 == 0 { 12 } else { hh % 12 };
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let nopad = chars.peek() == Some(&'-');
        if nopad {
            chars.next();
        }
        let num = |v: i64, w: usize| {
            if nopad {
                v.to_string()
            } else {
                format!("{v:0w$}")
            }
        };
        let piece = match chars.next() {
            Some('Y') => y.to_string(),
            Some('y') => num(y.rem_euclid(100), 2),
            Some('m') => num(m, 2),
            Some('d') => num(d, 2),
            Some('e') => format!("{d:2}"),
            Some('j') => num(yday, 3),
            Some('H') => num(hh, 2),
            Some('I') => num(h12, 2),
            Some('M') => num(mm, 2),
            Some('S') => num(ss, 2),
            Some('p') => if hh < 12 { "AM" } else { "PM" }.into(),
            Some('B') => MONTHS[(m - 1) as usize].into(),
            Some('b') | Some('h') => MONTHS[(m - 1) as usize][..3].into(),
            Some('A') => DAYS[weekday].into(),
            Some('a') => DAYS[weekday][..3].into(),
            Some('u') => (weekday + 1).to_string(),
            Some('w') => ((weekday + 1) % 7).to_string(),
            Some('F') => format!("{y}-{m:02}-{d:02}"),
            Some('T') => format!("{hh:02}:{mm:02}:{ss:02}"),
            Some('D') => format!("{m:02}/{d:02}/{:02}", y.rem_euclid(100)),
            Some('%') => "%".into(),
            Some(other) => format!("%{}{other}", if nopad { "-" } else { "" }),
            None => "%".into(),
        };
        out.push_str(&piece);
    }
    out
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
