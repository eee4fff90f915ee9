"""The official `openai` client against a running `granite serve` (started by
tests/serve_openai.rs with GRANITE_URL and GRANITE_KEY): wire format, stop strings, seeds,
tools, 8 concurrent streams, a client that leaves, the queue limit and the prompt cache.
Every request is bounded (timeout, max_tokens); any failed check exits non-zero."""
import json
import os
import re
import sys
import threading
import time
import urllib.request

import openai

URL = os.environ["GRANITE_URL"]
MODEL = "granite-austen"
client = openai.OpenAI(base_url=URL, api_key=os.environ["GRANITE_KEY"], timeout=120, max_retries=0)


def chat(content, **kw):
    kw.setdefault("temperature", 0)
    kw.setdefault("max_tokens", 12)
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}], **kw)


def metrics():
    with urllib.request.urlopen(URL.removesuffix("/v1") + "/metrics", timeout=30) as r:
        text = r.read().decode()
    return {m[0]: int(m[1]) for m in re.findall(r"^granite_(\w+) (\d+)$", text, re.M)}


def wait_metrics(pred, what, seconds=60):
    end = time.time() + seconds
    while time.time() < end:
        m = metrics()
        if pred(m):
            return m
        time.sleep(0.1)
    sys.exit(f"metrics never showed {what}: {metrics()}")


def streamed(content, **kw):
    """The text, finish reason, usage and chunks of one streamed chat."""
    kw.setdefault("temperature", 0)
    kw.setdefault("max_tokens", 12)
    chunks = list(client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": content}], stream=True,
        stream_options={"include_usage": True}, **kw))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    return text, finish, chunks[-1].usage, chunks


def check_models_and_basic_chat():
    assert [m.id for m in client.models.list().data] == [MODEL]
    assert client.models.retrieve(MODEL).id == MODEL
    try:
        client.models.retrieve("gpt-4")
        sys.exit("an unknown model was found")
    except openai.NotFoundError as e:
        assert e.body["code"] == "model_not_found", e.body
    r = chat("Good morning, Mr. Darcy.")
    assert r.object == "chat.completion" and r.choices[0].message.role == "assistant"
    assert r.choices[0].finish_reason in ("stop", "length"), r
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0, r.usage
    text, finish, usage, chunks = streamed("Good morning, Mr. Darcy.")
    assert chunks[0].choices[0].delta.role == "assistant", chunks[0]
    assert text == r.choices[0].message.content, (text, r.choices[0].message.content)
    assert finish == [r.choices[0].finish_reason], finish
    assert usage.completion_tokens == r.usage.completion_tokens, usage
    assert usage.prompt_tokens_details.cached_tokens >= 0
    assert "\ufffd" not in text


def check_stop_strings():
    full = chat("Tell me of Pemberley.", max_tokens=24).choices[0].message.content
    assert len(full) > 8, full
    stop = full[len(full) // 2:len(full) // 2 + 3]
    cut = full.find(stop)
    r = chat("Tell me of Pemberley.", max_tokens=24, stop=[stop, "@@never@@"])
    assert r.choices[0].message.content == full[:cut], (r.choices[0].message.content, full, stop)
    assert r.choices[0].finish_reason == "stop"
    text, finish, _, _ = streamed("Tell me of Pemberley.", max_tokens=24, stop=stop)
    assert (text, finish) == (full[:cut], ["stop"]), (text, finish)


def check_seeds():
    runs = [chat("Write about Bath.", temperature=1.0, seed=s, max_tokens=16).choices[0].message.content
            for s in (7, 7, 8, 9, 10)]
    assert runs[0] == runs[1], runs
    assert len(set(runs[1:])) > 1, runs


TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a town",
    "parameters": {"type": "object", "properties": {"town": {"type": "string"}}}}}]


def check_tools():
    plain = chat("Is it raining in Bath?", max_tokens=8)
    r = chat("Is it raining in Bath?", max_tokens=8, tools=TOOLS)
    # The tools reached the template: the prompt grew by their description.
    assert r.usage.prompt_tokens > plain.usage.prompt_tokens + 20, (r.usage, plain.usage)
    # This model was trained on novels: it writes prose, which must come back as content.
    assert r.choices[0].finish_reason in ("stop", "length") and not r.choices[0].message.tool_calls
    # A conversation with every role, an earlier call and its result renders and answers.
    msgs = [{"role": "system", "content": "You are Mr. Bennet."},
            {"role": "user", "content": "Is it raining in Bath?"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"town\": \"Bath\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "rain"}]
    r = client.chat.completions.create(model=MODEL, messages=msgs, tools=TOOLS, max_tokens=6, temperature=0)
    assert r.choices[0].finish_reason in ("stop", "length"), r


def check_scripted_tool_calls():
    """A server on a model copy whose tokenizer writes a get_weather call for every space."""
    tc = openai.OpenAI(base_url=os.environ["GRANITE_TOOL_URL"], api_key=os.environ["GRANITE_KEY"],
                       timeout=120, max_retries=0)
    ask = dict(model=MODEL, messages=[{"role": "user", "content": "Is it raining in Bath?"}],
               max_tokens=8, temperature=0)
    r = tc.chat.completions.create(tools=TOOLS, **ask)
    c = r.choices[0]
    assert c.finish_reason == "tool_calls", c
    calls = [(t.type, t.function.name, json.loads(t.function.arguments)) for t in c.message.tool_calls]
    assert calls and all(x == ("function", "get_weather", {"town": "Bath"}) for x in calls), calls
    assert len({t.id for t in c.message.tool_calls}) == len(calls)
    assert "tool_call>" not in (c.message.content or ""), c.message.content
    chunks = list(tc.chat.completions.create(tools=TOOLS, stream=True, **ask))
    streamed, text = {}, ""
    for ch in chunks:
        for d in ch.choices[0].delta.tool_calls or []:
            assert d.index not in streamed and d.id and d.type == "function", d
            streamed[d.index] = (d.type, d.function.name, json.loads(d.function.arguments))
        text += ch.choices[0].delta.content or ""
    assert [streamed[i] for i in range(len(streamed))] == calls, (streamed, calls)
    assert text.strip() == (c.message.content or ""), (text, c.message.content)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    # Without tools in the request the same reply is plain text.
    plain = tc.chat.completions.create(**ask).choices[0]
    assert "<tool_call>" in plain.message.content and not plain.message.tool_calls, plain


PROMPTS = [f"Tell me about {name}." for name in
           ("Elizabeth", "Jane", "Lydia", "Kitty", "Mary", "Emma", "Anne", "Fanny")]


def check_concurrent_streams_equal_solo():
    solo = [streamed(p, max_tokens=10)[0] for p in PROMPTS]
    out = [None] * len(PROMPTS)

    def run(i):
        out[i] = streamed(PROMPTS[i], max_tokens=10)[0]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(PROMPTS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert out == solo, (out, solo)


def long_stream(tag):
    # Long enough to outlast the checks on a fast GPU; they are cancelled, never run out.
    return client.completions.create(model=MODEL, prompt=f"Chapter {tag}.", max_tokens=2000,
                                     temperature=0, stream=True, extra_body={"ignore_eos": True})


def check_dropped_client_and_queue_limit():
    before = wait_metrics(lambda m: m["requests_running"] == 0, "an idle server")
    s = long_stream("I")
    next(iter(s))
    wait_metrics(lambda m: m["requests_running"] == 1, "one running")
    s.close()
    after = wait_metrics(lambda m: m["requests_running"] == 0 and m["requests_queued"] == 0, "the slot freed")
    # Cancelled, not run to its 2000 tokens.
    generated = after["generated_tokens_total"] - before["generated_tokens_total"]
    assert generated < 1000, generated
    # 4 running + 4 queued fill the server: the next one is refused with 429.
    streams = [long_stream(i) for i in range(8)]
    wait_metrics(lambda m: m["requests_running"] == 4 and m["requests_queued"] == 4, "4 running, 4 queued")
    try:
        chat("One more?")
        sys.exit("a request past the queue was accepted")
    except openai.RateLimitError as e:
        assert e.status_code == 429 and e.body["code"] == "queue_full", e.body
    for s in streams:
        s.close()
    m = wait_metrics(lambda m: m["requests_running"] == 0 and m["requests_queued"] == 0, "all slots freed")
    assert m["open_sessions"] == m["idle_sessions"], m
    assert m["requests_rejected_total"] >= 1, m


def check_prompt_cache():
    first = [{"role": "user", "content": "What do you think of Mr. Wickham?"}]
    r1 = client.chat.completions.create(model=MODEL, messages=first, max_tokens=12, temperature=0)
    second = first + [{"role": "assistant", "content": r1.choices[0].message.content},
                      {"role": "user", "content": "And of his manners?"}]
    warm = client.chat.completions.create(model=MODEL, messages=second, max_tokens=12, temperature=0)
    assert warm.usage.prompt_tokens_details.cached_tokens > r1.usage.prompt_tokens, warm.usage
    # No kept session is a prefix of this conversation any more: this one is cold.
    cold = client.chat.completions.create(model=MODEL, messages=second, max_tokens=12, temperature=0)
    assert cold.usage.prompt_tokens_details.cached_tokens == 0, cold.usage
    assert warm.choices[0].message.content == cold.choices[0].message.content, (warm, cold)
    assert metrics()["cached_prompt_tokens_total"] >= warm.usage.prompt_tokens_details.cached_tokens


def check_completions():
    r = client.completions.create(model=MODEL, prompt="It is a truth universally", max_tokens=6, temperature=0)
    assert r.choices[0].finish_reason in ("stop", "length") and r.usage.prompt_tokens > 0, r
    ids = client.completions.create(model=MODEL, prompt=[100, 200, 300], max_tokens=4, temperature=0)
    assert ids.usage.prompt_tokens == 3, ids.usage
    parts = list(client.completions.create(model=MODEL, prompt="It is a truth universally", max_tokens=6,
                                           temperature=0, stream=True))
    assert "".join(p.choices[0].text for p in parts) == r.choices[0].text


for check in (check_models_and_basic_chat, check_stop_strings, check_seeds, check_tools,
              check_scripted_tool_calls,
              check_completions, check_concurrent_streams_equal_solo, check_prompt_cache,
              check_dropped_client_and_queue_limit):
    started = time.time()
    check()
    print(f"ok {check.__name__} ({time.time() - started:.1f}s)", flush=True)
