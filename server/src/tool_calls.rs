//! Granite's tool calls in generated text: `<tool_call>{"name": …, "arguments": {…}}</tool_call>`
//! (see the chat template), split from the text as it streams. Text that might be the start of
//! an opening tag is held back until it is known not to be one; a call is released whole, once
//! its closing tag arrives, so a client always gets its name and complete arguments together.
//! A call whose JSON does not parse stays text, as the model wrote it.
use serde_json::Value;

const OPEN: &str = "<tool_call>";
const CLOSE: &str = "</tool_call>";

#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub name: String,
    /// The arguments as a JSON string, as OpenAI sends them.
    pub arguments: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    Text(String),
    Call(Call),
}

#[derive(Default)]
pub struct ToolCallParser {
    buf: String,
    inside: bool,
}

impl ToolCallParser {
    /// Feeds newly generated text; returns what is now certain.
    pub fn push(&mut self, text: &str) -> Vec<Piece> {
        self.buf.push_str(text);
        let mut out = Vec::new();
        loop {
            if self.inside {
                let Some(end) = self.buf.find(CLOSE) else {
                    break;
                };
                let body: String = self.buf[..end].to_string();
                self.buf.drain(..end + CLOSE.len());
                self.inside = false;
                match parse_calls(&body) {
                    Some(calls) => out.extend(calls.into_iter().map(Piece::Call)),
                    None => out.push(Piece::Text(format!("{OPEN}{body}{CLOSE}"))),
                }
            } else if let Some(start) = self.buf.find(OPEN) {
                if start > 0 {
                    out.push(Piece::Text(self.buf[..start].to_string()));
                }
                self.buf.drain(..start + OPEN.len());
                self.inside = true;
            } else {
                let keep = held_back(&self.buf);
                let cut = self.buf.len() - keep;
                if cut > 0 {
                    out.push(Piece::Text(self.buf[..cut].to_string()));
                    self.buf.drain(..cut);
                }
                break;
            }
        }
        out
    }

    /// The generation ended: whatever is held back (an unclosed call included) is text.
    pub fn finish(&mut self) -> Vec<Piece> {
        let rest = std::mem::take(&mut self.buf);
        let text = if std::mem::take(&mut self.inside) {
            format!("{OPEN}{rest}")
        } else {
            rest
        };
        if text.is_empty() {
            Vec::new()
        } else {
            vec![Piece::Text(text)]
        }
    }
}

/// Bytes at the end of `s` that begin the opening tag (and so cannot be released yet).
fn held_back(s: &str) -> usize {
    (1..OPEN.len())
        .rev()
        .find(|&n| {
            s.len() >= n && s.is_char_boundary(s.len() - n) && OPEN.starts_with(&s[s.len() - n..])
        })
        .unwrap_or(0)
}

/// One call object, or a list of them, as JSON.
fn parse_calls(body: &str) -> Option<Vec<Call>> {
    let value: Value = serde_json::from_str(body.trim()).ok()?;
    let items = match value {
        Value::Array(items) => items,
        one => vec![one],
    };
    items.iter().map(parse_call).collect()
}

fn parse_call(v: &Value) -> Option<Call> {
    let name = v.get("name")?.as_str()?.to_string();
    let arguments = match v.get("arguments") {
        None | Some(Value::Null) => "{}".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(args) => args.to_string(),
    };
    Some(Call { name, arguments })
}

/// Splits a whole reply into its text (outside the calls) and its calls.
pub fn split(text: &str) -> (String, Vec<Call>) {
    let mut parser = ToolCallParser::default();
    let mut pieces = parser.push(text);
    pieces.extend(parser.finish());
    let mut content = String::new();
    let mut calls = Vec::new();
    for p in pieces {
        match p {
            Piece::Text(t) => content.push_str(&t),
            Piece::Call(c) => calls.push(c),
        }
    }
    (content, calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: &str = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Bath\"}}\n</tool_call>";

    fn weather() -> Call {
        Call {
            name: "get_weather".into(),
            arguments: r#"{"city":"Bath"}"#.into(),
        }
    }

    #[test]
    fn a_whole_reply_splits_into_text_and_calls() {
        let (text, calls) = split(&format!("Let me look.\n{CALL}\n{CALL}"));
        assert_eq!(text, "Let me look.\n\n");
        assert_eq!(calls, [weather(), weather()]);
    }

    #[test]
    fn streamed_one_byte_at_a_time_the_call_comes_out_whole_and_no_tag_leaks() {
        let reply = format!("Sure. {CALL} done <tool");
        let mut parser = ToolCallParser::default();
        let mut pieces = Vec::new();
        for c in reply.chars() {
            pieces.extend(parser.push(&c.to_string()));
        }
        pieces.extend(parser.finish());
        let text: String = pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Text(t) => Some(t.as_str()),
                Piece::Call(_) => None,
            })
            .collect();
        assert_eq!(text, "Sure.  done <tool");
        let calls: Vec<_> = pieces
            .iter()
            .filter(|p| matches!(p, Piece::Call(_)))
            .collect();
        assert_eq!(calls, [&Piece::Call(weather())]);
    }

    #[test]
    fn broken_json_and_unclosed_calls_stay_text() {
        let broken = "<tool_call>{\"name\": oops}</tool_call>";
        assert_eq!(split(broken), (broken.to_string(), vec![]));
        let unclosed = "<tool_call>{\"name\": \"f\"";
        assert_eq!(split(unclosed), (unclosed.to_string(), vec![]));
    }

    #[test]
    fn string_arguments_and_lists_of_calls() {
        let body =
            r#"<tool_call>[{"name": "a", "arguments": "{\"x\": 1}"}, {"name": "b"}]</tool_call>"#;
        let (_, calls) = split(body);
        assert_eq!(calls[0].arguments, r#"{"x": 1}"#);
        assert_eq!(
            calls[1],
            Call {
                name: "b".into(),
                arguments: "{}".into()
            }
        );
    }

    #[test]
    fn multibyte_text_before_a_partial_tag_is_released() {
        let mut parser = ToolCallParser::default();
        assert_eq!(parser.push("é<tool"), [Piece::Text("é".into())]);
        assert_eq!(parser.push("s>"), [Piece::Text("<tools>".into())]);
    }
}
