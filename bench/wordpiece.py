"""A small BERT WordPiece tokenizer (stdlib only) that prepares the PyTorch reference's inputs.

The reference side of the benchmark is tokenized *before* its timed process starts (a conservative choice: a user's
script would pay HF tokenizers' time inside it). Only the ids' count matters for the reference's speed when it pads to
max_length, so this follows HF's BertTokenizer closely (lower case, NFD accent stripping, punctuation and CJK split,
greedy longest-match-first) without claiming to be exact; whet's own tokenizer is checked against HF elsewhere.
"""
import unicodedata


def _is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp):
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


class WordPiece:
    def __init__(self, vocab_path, lower=True):
        self.vocab = {}
        with open(vocab_path, encoding="utf-8") as f:
            for i, line in enumerate(f):
                self.vocab.setdefault(line.rstrip("\n"), i)
        self.lower = lower
        self.unk = self.vocab.get("[UNK]", 100)
        self.cls = self.vocab.get("[CLS]", 101)
        self.sep = self.vocab.get("[SEP]", 102)
        self.pad = self.vocab.get("[PAD]", 0)
        self.cache = {}

    def basic(self, text):
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\t\n\r":
                continue
            if ch.isspace():
                out.append(" ")
            elif _is_cjk(cp):
                out.append(" " + ch + " ")
            else:
                out.append(ch)
        words = []
        for w in "".join(out).split():
            if self.lower:
                w = "".join(c for c in unicodedata.normalize("NFD", w.lower()) if unicodedata.category(c) != "Mn")
            cur = []
            for ch in w:
                if _is_punct(ch):
                    if cur:
                        words.append("".join(cur))
                        cur = []
                    words.append(ch)
                else:
                    cur.append(ch)
            if cur:
                words.append("".join(cur))
        return words

    def word(self, w):
        ids = self.cache.get(w)
        if ids is not None:
            return ids
        if len(w) > 100:
            ids = [self.unk]
        else:
            ids, start = [], 0
            while start < len(w):
                end, found = len(w), None
                while start < end:
                    piece = w[start:end] if start == 0 else "##" + w[start:end]
                    if piece in self.vocab:
                        found = self.vocab[piece]
                        break
                    end -= 1
                if found is None:
                    ids = [self.unk]
                    break
                ids.append(found)
                start = end
        self.cache[w] = ids
        return ids

    def encode(self, text, max_length):
        ids = [self.cls]
        for w in self.basic(text):
            ids.extend(self.word(w))
            if len(ids) >= max_length - 1:
                break
        ids = ids[: max_length - 1]
        ids.append(self.sep)
        return ids
