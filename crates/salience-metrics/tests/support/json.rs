//! A minimal JSON reader for the parity fixtures (no dependency needed).
//! Shared by salience-metrics' `quantus_parity.rs` and salience-explain's
//! `captum_parity.rs` (included with `#[path]`).
#![allow(dead_code)]
/// A parsed JSON value.
#[derive(Debug, Clone)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(m) => m
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("fixture has no key {key:?}")),
            _ => panic!("not an object (looking for {key:?})"),
        }
    }

    /// A number (`null` is NaN, booleans are 0 / 1).
    pub fn num(&self) -> f64 {
        match self {
            Json::Num(v) => *v,
            Json::Null => f64::NAN,
            Json::Bool(b) => f64::from(u8::from(*b)),
            other => panic!("not a number: {other:?}"),
        }
    }

    /// The elements of an array.
    pub fn items(&self) -> &[Json] {
        match self {
            Json::Arr(v) => v,
            other => panic!("not an array: {other:?}"),
        }
    }

    /// The member `key`, an array `{"shape", "data"}`, as its shape and
    /// f64 values (null → NaN).
    pub fn array(&self, key: &str) -> (Vec<usize>, Vec<f64>) {
        let a = self.get(key);
        let shape = a
            .get("shape")
            .items()
            .iter()
            .map(|v| v.num() as usize)
            .collect();
        (shape, a.get("data").items().iter().map(Json::num).collect())
    }

    /// The member `key` as a float32 array (the fixtures hold the exact
    /// value of each f32).
    pub fn f32_array(&self, key: &str) -> ndarray::ArrayD<f32> {
        let (shape, data) = self.array(key);
        let data = data.iter().map(|&v| v as f32).collect();
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), data).expect("fixture shape")
    }

    /// A string.
    pub fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }
}

/// Reads and parses the fixture at `path`.
pub fn read(path: &str) -> Json {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    parse(&text)
}

/// Parses a whole JSON document.
pub fn parse(text: &str) -> Json {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value();
    p.ws();
    assert_eq!(p.i, p.s.len(), "trailing characters in fixture");
    v
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &str) {
        assert!(
            self.s[self.i..].starts_with(lit.as_bytes()),
            "expected {lit:?} at byte {}",
            self.i
        );
        self.i += lit.len();
    }

    fn value(&mut self) -> Json {
        self.ws();
        match self.s[self.i] {
            open @ (b'{' | b'[') => {
                let (is_obj, close) = (open == b'{', if open == b'{' { b'}' } else { b']' });
                self.i += 1;
                let (mut members, mut items) = (Vec::new(), Vec::new());
                loop {
                    self.ws();
                    if self.s[self.i] == close {
                        self.i += 1;
                        return if is_obj {
                            Json::Obj(members)
                        } else {
                            Json::Arr(items)
                        };
                    }
                    if is_obj {
                        let key = self.string();
                        self.ws();
                        self.eat(":");
                        members.push((key, self.value()));
                    } else {
                        items.push(self.value());
                    }
                    self.ws();
                    if self.s[self.i] == b',' {
                        self.i += 1;
                    }
                }
            }
            b'"' => Json::Str(self.string()),
            b'n' => {
                self.eat("null");
                Json::Null
            }
            b't' => {
                self.eat("true");
                Json::Bool(true)
            }
            b'f' => {
                self.eat("false");
                Json::Bool(false)
            }
            _ => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'
                    )
                {
                    self.i += 1;
                }
                let tok = std::str::from_utf8(&self.s[start..self.i]).expect("ascii number");
                Json::Num(tok.parse().unwrap_or_else(|_| panic!("bad number {tok:?}")))
            }
        }
    }

    fn string(&mut self) -> String {
        self.eat("\"");
        let mut out = String::new();
        while self.s[self.i] != b'"' {
            if self.s[self.i] == b'\\' {
                self.i += 1;
                out.push(match self.s[self.i] {
                    b'n' => '\n',
                    b't' => '\t',
                    c => c as char,
                });
                self.i += 1;
            } else {
                let rest = std::str::from_utf8(&self.s[self.i..]).expect("utf-8 fixture");
                let c = rest.chars().next().expect("unterminated string");
                out.push(c);
                self.i += c.len_utf8();
            }
        }
        self.i += 1;
        out
    }
}
