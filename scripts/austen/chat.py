"""Stage 3, chat data: the system prompts and their weights (SYSTEM_PROMPTS), the spoken words of a
dialogue paragraph (speech_of) and user/assistant conversations built from runs of consecutive dialogue
paragraphs (build_conversations)."""

import re


SYSTEM_PROMPTS = [  # (weight, system content or None = template default)
    (0.6, None),
    (0.15, "You are a character in a novel by Jane Austen."),
    (0.15, "Reply in the style of Jane Austen."),
    (0.1, "You are a helpful assistant."),
]


def speech_of(p):
    """Spoken words of a paragraph (narration removed), or None if it is not a clean dialogue paragraph."""
    if p.count('"') < 2 or p.count('"') % 2:
        return None
    quotes = [q.strip() for q in re.findall(r'"([^"]*)"', p) if q.strip()]
    if not quotes:
        return None
    narration = re.sub(r'"[^"]*"', "", p)
    if len(narration) > 0.6 * len(p):  # mostly narration: skip
        return None
    s = " ".join(quotes)
    s = re.sub(r"\s+", " ", s).strip()
    s = re.sub(r"[,;:\-]+$", ".", s)
    if len(s) < 8 or len(s) > 600:
        return None
    return s


def build_conversations(paras_by_novel, rng):
    convs = []
    for paras in paras_by_novel.values():
        run = []
        for p in paras + [""]:
            s = speech_of(p) if p else None
            if s is not None:
                run.append(s)
                continue
            # every start position (overlapping windows): each reply is also seen as a prompt
            for i in range(len(run) - 1):
                k = min(rng.choice([2, 2, 2, 4, 4, 6]), (len(run) - i) // 2 * 2)
                turns = run[i:i + k]
                msgs = []
                r = rng.random()
                acc = 0.0
                for w, sysmsg in SYSTEM_PROMPTS:
                    acc += w
                    if r < acc:
                        if sysmsg:
                            msgs.append({"role": "system", "content": sysmsg})
                        break
                for j, t in enumerate(turns):
                    msgs.append({"role": "user" if j % 2 == 0 else "assistant", "content": t})
                convs.append(msgs)
            run = []
    return convs
