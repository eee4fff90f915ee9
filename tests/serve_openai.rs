//! `granite serve` on the bundled model, on a free loopback port: raw HTTP checks of the
//! error contract (malformed JSON, wrong types, oversized bodies, prompts past the context, a
//! wrong key → the documented 4xx JSON, and the server keeps serving), then the official
//! `openai` Python client (tests/serve_openai_client.py) for the wire format, stop strings,
//! seeds, tools, concurrency, disconnects, the queue and the prompt cache.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const KEY: &str = "sk-granite-test";

/// The server process, killed when the test ends (pass or fail).
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(model: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_granite"))
        .args(["serve", "--model"])
        .arg(model)
        .args(["--port", "0", "--api-key", KEY, "--max-sessions", "4"])
        .args(["--queue", "4", "--ctx-size", "2048"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start granite serve");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.split("http://").nth(1) {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("granite serve printed no address in 2 minutes");
    Server {
        child,
        addr: addr.parse().unwrap(),
    }
}

/// A folder removed when the test ends (pass or fail).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const BUNDLED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/granite-austen");

/// A copy of the bundled model whose tokenizer decodes every space as a whole Granite tool
/// call (a `Replace` step after the byte-level decoder: encoding is untouched, so the model
/// runs as before). Whatever the model writes, its reply then holds tool calls, which the
/// server must return as `tool_calls`. Same folder name, so the same model id.
fn scripted_tool_model(dir: &TempDir) -> PathBuf {
    let model = dir.0.join("granite-austen");
    std::fs::create_dir_all(&model).unwrap();
    for f in [
        "config.json",
        "generation_config.json",
        "tokenizer_config.json",
        "model.safetensors",
    ] {
        std::fs::copy(Path::new(BUNDLED).join(f), model.join(f)).unwrap();
    }
    let text = std::fs::read_to_string(Path::new(BUNDLED).join("tokenizer.json")).unwrap();
    let mut tok: serde_json::Value = serde_json::from_str(&text).unwrap();
    let call = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"town\": \"Bath\"}}\n</tool_call>";
    let replace =
        serde_json::json!({"type": "Replace", "pattern": {"String": " "}, "content": call});
    tok["decoder"] =
        serde_json::json!({"type": "Sequence", "decoders": [tok["decoder"].take(), replace]});
    std::fs::write(model.join("tokenizer.json"), tok.to_string()).unwrap();
    model
}

/// One HTTP/1.1 request; returns the status and the body. `body_len` overrides the
/// Content-Length header (to announce a body larger than the one sent).
fn http(
    srv: &Server,
    path: &str,
    key: Option<&str>,
    body: &[u8],
    body_len: Option<usize>,
) -> (u16, String) {
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let method = if body.is_empty() && body_len.is_none() {
        "GET"
    } else {
        "POST"
    };
    let auth = key.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body_len.unwrap_or(body.len())
    );
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading a body it refuses.
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// Checks a `{"error": {...}}` body and returns the error object.
fn error_of(status: u16, body: &str, want: u16) -> serde_json::Value {
    assert_eq!(status, want, "body: {body}");
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let e = v["error"].clone();
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(e["type"].is_string(), "{body}");
    assert!(
        e.get("param").is_some() && e.get("code").is_some(),
        "{body}"
    );
    e
}

fn chat_body(extra: &str) -> String {
    format!(
        r#"{{"model": "granite-austen", "messages": [{{"role": "user", "content": "Good morning"}}], "max_tokens": 4, "temperature": 0{extra}}}"#
    )
}

fn raw_http_checks(srv: &Server) {
    let chat = "/v1/chat/completions";
    let post = |path: &str, body: &str| http(srv, path, Some(KEY), body.as_bytes(), None);
    let (s, b) = post(chat, "{\"model\": ");
    error_of(s, &b, 400);
    let (s, b) = post(chat, &chat_body(r#", "max_tokens": "many""#));
    assert_eq!(error_of(s, &b, 400)["param"], "max_tokens");
    let (s, b) = post(chat, r#"{"model": "granite-austen", "messages": "hello"}"#);
    assert_eq!(error_of(s, &b, 400)["param"], "messages");
    let (s, b) = post(chat, &chat_body(r#", "temperature": 7"#));
    assert_eq!(error_of(s, &b, 400)["param"], "temperature");
    let (s, b) = post(chat, &chat_body(r#", "n": 3"#));
    assert_eq!(error_of(s, &b, 400)["param"], "n");
    let (s, b) = post(chat, &chat_body(r#", "logprobs": true"#));
    assert_eq!(error_of(s, &b, 400)["param"], "logprobs");
    let (s, b) = post(chat, &chat_body("").replacen("granite-austen", "gpt-4", 1));
    assert_eq!(error_of(s, &b, 404)["code"], "model_not_found");
    let (s, b) = post(chat, &chat_body("").replace("\"user\"", "\"wizard\""));
    assert_eq!(error_of(s, &b, 400)["param"], "messages[0].role");
    let (s, b) = http(srv, chat, Some(KEY), b"", Some(64 << 20));
    assert_eq!(error_of(s, &b, 413)["code"], "body_too_large");
    let (s, b) = http(srv, chat, Some("sk-wrong"), chat_body("").as_bytes(), None);
    assert_eq!(error_of(s, &b, 401)["code"], "invalid_api_key");
    let (s, b) = http(srv, chat, None, chat_body("").as_bytes(), None);
    error_of(s, &b, 401);
    let long = format!(
        r#"{{"model": "granite-austen", "prompt": {:?}}}"#,
        vec![100; 2100]
    );
    let (s, b) = post("/v1/completions", &long);
    assert_eq!(error_of(s, &b, 400)["code"], "context_length_exceeded");
    let long_chat = chat_body("").replace("Good morning", &"word ".repeat(2100));
    let (s, b) = post(chat, &long_chat);
    assert_eq!(error_of(s, &b, 400)["code"], "context_length_exceeded");
    let bad_id = r#"{"model": "granite-austen", "prompt": [4000000000], "max_tokens": 2}"#;
    let (s, b) = post("/v1/completions", bad_id);
    error_of(s, &b, 400);
    let (s, b) = post("/v1/nothing", "{}");
    error_of(s, &b, 404);
    let (s, b) = http(srv, "/v1/completions", Some(KEY), b"", None);
    error_of(s, &b, 405);
    // And it keeps serving.
    let (s, b) = post(chat, &chat_body(""));
    assert_eq!(s, 200, "{b}");
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["usage"]["completion_tokens"], 4);
    keep_alive_during_prefill(srv);
    let (s, b) = http(srv, "/health", None, b"", None);
    assert_eq!((s, b.contains("ok")), (200, true), "{b}");
}

/// A prompt of several prefill chunks (256 tokens each on CPU drivers, 1024 on GPUs) streams
/// a keep-alive comment per chunk before its first token.
fn keep_alive_during_prefill(srv: &Server) {
    let body = format!(
        r#"{{"model": "granite-austen", "prompt": {:?}, "max_tokens": 2, "stream": true}}"#,
        vec![100; 1500]
    );
    let (s, b) = http(srv, "/v1/completions", Some(KEY), body.as_bytes(), None);
    assert_eq!(s, 200, "{b}");
    let first_data = b.find("data: {").expect("no data chunk");
    let keep_alives = b[..first_data].matches(": keep-alive").count();
    assert!(
        keep_alives >= 2,
        "{keep_alives} keep-alives before the first token: {b}"
    );
    assert!(b.contains("data: [DONE]"), "{b}");
}

#[test]
fn serve_answers_the_openai_client_and_refuses_bad_requests_with_json() {
    let srv = start(Path::new(BUNDLED));
    raw_http_checks(&srv);
    let dir = TempDir(std::env::temp_dir().join(format!("granite-serve-{}", std::process::id())));
    let tools = start(&scripted_tool_model(&dir));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/serve_openai_client.py");
    let mut py = Command::new("python3")
        .arg(script)
        .env("GRANITE_URL", format!("http://{}/v1", srv.addr))
        .env("GRANITE_TOOL_URL", format!("http://{}/v1", tools.addr))
        .env("GRANITE_KEY", KEY)
        .spawn()
        .expect("python3 is needed (scripts/install-deps.sh installs the openai client)");
    // Bounded: the script's own requests time out; this is the backstop.
    for _ in 0..600 {
        if let Some(status) = py.try_wait().unwrap() {
            assert!(
                status.success(),
                "the openai client checks failed: {status}"
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = py.kill();
    panic!("the openai client checks took more than 5 minutes");
}
