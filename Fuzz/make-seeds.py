#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, from the repository's fixtures: copies of small files, and small checkpoints
made here (a 1-layer llama with hidden size 8, as safetensors with its config.json and as GGUF with the tiny
fixture's tokenizer metadata), so that the fuzzer mutates headers and tables, not megabytes of weights.

Usage: make-seeds.py REPO OUT   (writes OUT/<target>/<seed>; scripts/fuzz.sh calls it)"""
import json, os, shutil, struct, sys

repo, out = sys.argv[1], sys.argv[2]


def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(path):
    with open(os.path.join(repo, path), "rb") as f:
        return f.read()


# --- a tiny llama: vocab 600 (the tiny tokenizer), hidden 8, 2 heads of 4, 1 key/value head, FFN 8, 1 layer.
V, C, NH, NKV, HD, F = 600, 8, 2, 1, 4, 8
tensors_hf = [
    ("model.embed_tokens.weight", [V, C]),
    ("model.layers.0.input_layernorm.weight", [C]),
    ("model.layers.0.self_attn.q_proj.weight", [NH * HD, C]),
    ("model.layers.0.self_attn.k_proj.weight", [NKV * HD, C]),
    ("model.layers.0.self_attn.v_proj.weight", [NKV * HD, C]),
    ("model.layers.0.self_attn.o_proj.weight", [C, NH * HD]),
    ("model.layers.0.post_attention_layernorm.weight", [C]),
    ("model.layers.0.mlp.gate_proj.weight", [F, C]),
    ("model.layers.0.mlp.up_proj.weight", [F, C]),
    ("model.layers.0.mlp.down_proj.weight", [C, F]),
    ("model.norm.weight", [C]),
    ("lm_head.weight", [V, C]),
]


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def values(n, seed):
    # Deterministic small floats; the fuzzer does not care about their meaning.
    return struct.pack("<%df" % n, *[((i * 2654435761 + seed) % 1000) / 1000.0 - 0.5 for i in range(n)])


def safetensors(entries, dtype="F32"):
    header, blobs, off = {}, [], 0
    for k, (name, shape) in enumerate(entries):
        b = values(numel(shape), k) if dtype == "F32" else b"\0" * (numel(shape) * 2)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


config = json.loads(read("Fixtures/tiny/llama/config.json"))
config.update(hidden_size=C, num_attention_heads=NH, num_key_value_heads=NKV, head_dim=HD, intermediate_size=F,
              num_hidden_layers=1, vocab_size=V, max_position_embeddings=32)
cfg = json.dumps(config, indent=1).encode()
put("safetensors", "tiny-llama", cfg + b"\0" + safetensors(tensors_hf))
tied = dict(config, tie_word_embeddings=True)
put("safetensors", "tiny-llama-tied-f16", json.dumps(tied).encode() + b"\0" + safetensors(tensors_hf[:-1], "F16"))
for name in ["gpt2", "neox"]:  # the other architectures' configs, with the llama weights: fails at the tensor names
    put("safetensors", "config-" + name, read("Fixtures/tiny/%s/config.json" % name) + b"\0" + safetensors(tensors_hf[:2]))

# --- GGUF: the tiny fixture's key/values (tokenizer included) with the small shapes, and f32 tensors.
GGUF_TYPES = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class Reader:
    def __init__(self, b):
        self.b, self.p = b, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.p)[0]
        self.p += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.b[self.p:self.p + n]
        self.p += n
        return s

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("<I"), self.take("<Q")
            return (et, [self.value(et) for _ in range(n)])
        return self.take(GGUF_TYPES[t])


def wvalue(t, v):
    if t == 8:
        return struct.pack("<Q", len(v)) + v
    if t == 9:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(wvalue(et, x) for x in items)
    return struct.pack(GGUF_TYPES[t], v)


r = Reader(read("Fixtures/tiny/llama-gguf/model.gguf"))
assert r.b[:4] == b"GGUF"
r.p = 4
version, n_tensors, n_kv = r.take("<I"), r.take("<Q"), r.take("<Q")
kvs = []
for _ in range(n_kv):
    k = r.string()
    t = r.take("<I")
    kvs.append((k, t, r.value(t)))
small = {b"llama.embedding_length": C, b"llama.feed_forward_length": F, b"llama.attention.head_count": NH,
         b"llama.attention.head_count_kv": NKV, b"llama.block_count": 1, b"llama.context_length": 32,
         b"llama.rope.dimension_count": HD, b"llama.attention.key_length": HD, b"llama.attention.value_length": HD}
kvs = [(k, t, small.get(k, v)) for k, t, v in kvs]
tensors_gguf = [("token_embd.weight", [V, C]), ("blk.0.attn_norm.weight", [C]),
                ("blk.0.attn_q.weight", [NH * HD, C]), ("blk.0.attn_k.weight", [NKV * HD, C]),
                ("blk.0.attn_v.weight", [NKV * HD, C]), ("blk.0.attn_output.weight", [C, NH * HD]),
                ("blk.0.ffn_norm.weight", [C]), ("blk.0.ffn_gate.weight", [F, C]), ("blk.0.ffn_up.weight", [F, C]),
                ("blk.0.ffn_down.weight", [C, F]), ("output_norm.weight", [C]), ("output.weight", [V, C])]


def gguf(kvs, tensors):
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for k, t, v in kvs:
        head += struct.pack("<Q", len(k)) + k + struct.pack("<I", t) + wvalue(t, v)
    data, off = b"", 0
    for i, (name, shape) in enumerate(tensors):
        n = name.encode()
        head += struct.pack("<Q", len(n)) + n + struct.pack("<I", len(shape))
        head += b"".join(struct.pack("<Q", d) for d in reversed(shape)) + struct.pack("<IQ", 0, off)
        b = values(numel(shape), i)
        b += b"\0" * (-len(b) % 32)
        data += b
        off += len(b)
    head += b"\0" * (-len(head) % 32)
    return head + data


put("gguf", "tiny-llama.gguf", gguf(kvs, tensors_gguf))
put("gguf", "metadata-only.gguf", gguf(kvs, []))
put("gguf", "quant_types.gguf", read("Fixtures/gguf/quant_types.gguf"))

# --- the text readers: fixture files as they are.
for p in ["Fixtures/tokenizer/gpt2-tiny/tokenizer.json", "Fixtures/tokenizer/llama3-tiny/tokenizer.json"]:
    put("tokenizer", p.split("/")[2], read(p))
for p in ["audits/quickstart/members.jsonl", "audits/samples/texts.jsonl", "audits/samples/licence-style-fresh.jsonl"]:
    put("jsonl", os.path.basename(p), read(p))
put("jsonl", "mixed.jsonl", b'{"id": 1, "text": "a\\u00e9\\"b", "n": 3.0, "ok": true}\r\n"bare string"\n\n{"text": "x", "nested": {"a": [1, 2.50, null]}}\n')
for p in ["audits/quickstart.yml", "audits/compare.yml"]:
    put("spec", os.path.basename(p), read(p))
put("spec", "minimal.yml", b"version: 1\nname: m\ntarget:\n  checkpoint: default\ndatasets:\n  members: quickstart/members.jsonl\n  nonmembers: quickstart/nonmembers.jsonl\nattacks:\n  mia: {attacks: [loss], resamples: 10}\nthresholds: ['mia.loss.auc <= 0.6']\n")
put("canary", "quickstart-canaries.json", read("audits/quickstart/canaries.json"))
put("canary", "formats.json", json.dumps({"seed": 1, "canaries": [
    {"id": "a", "format": "my code is {digits:6}", "text": "my code is 123456", "repetitions": 1},
    {"id": "b", "format": "{hex:4}!", "text": "beef!", "repetitions": 2},
    {"id": "c", "format": "w {words:2} w", "text": "w alpha beta w", "repetitions": 4},
    {"id": "d", "format": "{letters:3}", "text": "abc", "repetitions": 8}]}).encode())
