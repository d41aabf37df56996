#!/usr/bin/env python3
"""Regenerates the seed corpora in fuzz/seeds/<target>/ from the repository's templates, skeletons
and configuration samples (value_render's seeds are binary `arbitrary` inputs kept as they are).
Run from anywhere: python3 fuzz/seeds/generate.py"""
import hashlib
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEEDS = ROOT / "fuzz" / "seeds"
MAX = 4096  # libFuzzer's default -max_len


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    if not data or len(data) > MAX:
        return
    directory = SEEDS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


templates = sorted(ROOT.glob("examples/templates/*/template.yaml")) + sorted(
    ROOT.glob("tests/fixtures/conformance/cases/*/template.yaml")
)
for path in templates:
    put("template_parse", path.read_bytes())

# Rendering: skeleton files as text (flags 0..3: the four renderers), expressions from the
# templates as step values (flag bit 4).
expressions = set()
for path in templates:
    for match in re.finditer(r"\$\{\{.*?\}\}|\{%.*?%\}", path.read_text()):
        expressions.add(match.group(0))
for index, expression in enumerate(sorted(expressions)):
    put("template_render", bytes([0x10 | (index % 4 & 1) | (0x04 if index % 3 == 0 else 0)]) + expression.encode())
skeletons = sorted(p for p in ROOT.glob("tests/fixtures/conformance/cases/*/skeleton/**/*") if p.is_file())
for index, path in enumerate(skeletons):
    data = path.read_bytes()
    if b"\0" in data:
        continue
    put("template_render", bytes([index % 2]) + data)
for extra in [
    "{% for i in range(3) %}${{ i }}{% endfor %}",
    "${{ parameters.url | parseRepoUrl | pick('owner') }}",
    "${{ 'x'.padStart(10, '-') ~ parameters.text.split(' ')[0] | upper }}",
    "${{ parameters.min - 1 }} ${{ -parameters.min }} ${{ parameters.max + 1 }}",
    "{% set s = 'ab' %}{% for i in range(20) %}{% set s = s ~ s %}{% endfor %}${{ s | length }}",
    "${{ parameters.items | selectattr('on') | map(attribute='n') | join(',') }}",
    "${{ r/a(b+)c/gi.test(parameters.text) }}",
    "{% raw %}${{ not rendered }}{% endraw %}",
    "${{ always() and failure() }}",
    "{% macro m(x) %}${{ x }}{% endmacro %}${{ m(parameters.name) }}",
]:
    put("template_render", b"\x00" + extra.encode())
    put("template_render", b"\x14" + extra.encode())

for path in [
    "a/f.txt", "", ".", "..", "../workspace/a", "../outside/secret", "/etc/passwd", "in/../..", "in/b/c",
    "in-abs/f.txt", "self/self/a/b", "out/secret", "out-rel/x", "chain/deep", "chain-in/b/c", "sibling/x",
    "prefix", "dang/x", "dang-rel", "dang-in/new/file", "dang-chain", "dang-dots/x", "a/up/workspace/a",
    "a/b/up2/x", "a/b/c/home/outside", "a/b/c/root/etc", "a/file-link/x", "loop1/x", "loop-self", "dotdot/via",
    "a//b/./c/../../f.txt", "new/dir/file.txt",
]:
    put("path_resolve", path if path else b"")

configs = [ROOT / "deploy/app-config.container.yaml", ROOT / "deploy/compose/app-config.yaml"]
for path in configs:
    put("config_load", path.read_bytes())
docs = (ROOT / "docs/configuration.md").read_text()
for block in re.findall(r"```ya?ml\n(.*?)```", docs, re.S):
    put("config_load", block)
for extra in [
    "backend:\n  listen: {port: '${PORT}', host: '${HOST}'}\nsecret: {$env: TOKEN}\ncert: {$file: cert.pem}\n",
    "extra: {$include: include.yaml}\nleaf: {$include: 'leaf.yaml#a.b'}\nnone: {$include: empty.yaml}\n",
    "permission:\n  enabled: true\n  rbac:\n    policies-csv-file: policy.csv\n    admin: {superUsers: [{name: user:default/alice}]}\n",
    "scaffolder:\n  concurrentTasksLimit: Infinity\n  taskTimeout: {hours: 1}\n  taskRetention: P1D\n  defaultCommitMessage: 'x $${NOT}'\n",
    "backend:\n  database: {client: pg, connection: {host: db, port: '5432', user: u, password: '${TOKEN}'}}\n",
]:
    put("config_load", extra)
