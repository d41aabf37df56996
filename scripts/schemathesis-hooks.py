"""Schemathesis hooks for scripts/schemathesis (loaded through SCHEMATHESIS_HOOKS).

Random strings almost never name a real template or task, so besides what schemathesis derives
from the document, the generated cases also draw on what exists on the server under test:

- `{taskId}`: the finished tasks the script created (SCAFFOLDER_FUZZ_TASK_IDS);
- `POST /v2/tasks`: the sample templates registered in the catalog, with valid and invalid values;
- `POST /v2/dry-run`: the sample templates with their files, one whose skeleton cannot render;
- `POST /v2/parse-template`: the sample templates' YAML, whole and cut in half;
- `/v2/templates/{namespace}/{kind}/{name}/...`: the registered templates;
- `POST .../validate` and `POST .../retry`: values and secrets in the shapes they take.

Every body-reading route also gets bodies just past the body limit (SCAFFOLDER_FUZZ_BODY_LIMIT),
which must be answered 413.

And one check: `not_a_server_error_except_failed_dry_run`, schemathesis' `not_a_server_error`
with the one exception Backstage's contract makes, the error envelope of a dry-run whose steps
failed (a panic's `The dry-run stopped unexpectedly` is still a failure).
"""

import base64
import json
import os
from pathlib import Path

import schemathesis
import yaml
from hypothesis import strategies as st

TASK_IDS = [i for i in os.environ.get("SCAFFOLDER_FUZZ_TASK_IDS", "").split(",") if i]
TEMPLATES = Path(os.environ.get("SCAFFOLDER_FUZZ_TEMPLATES", "examples/templates"))
# Templates without side effects outside the workspace; the script registers exactly these.
REGISTERED = ["hello-world", "docs-site"]
# `backend.maxRequestBodySize` of the server under test.
BODY_LIMIT = int(os.environ.get("SCAFFOLDER_FUZZ_BODY_LIMIT", "10485760"))


def _operation(context):
    operation = context.operation
    if operation is None:
        return (None, None)
    return (operation.method.upper(), operation.path)


def _template(name):
    return yaml.safe_load((TEMPLATES / name / "template.yaml").read_text())


def _files(name, replace=None):
    """The template's directory as `directoryContents`, optionally with some files replaced."""
    root = TEMPLATES / name
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    files.update(replace or {})
    return [
        {"path": path, "base64Content": base64.b64encode(content).decode()}
        for path, content in sorted(files.items())
    ]


_slug = st.from_regex(r"\A[a-z0-9]{1,10}(-[a-z0-9]{1,10}){0,2}\Z")
_hello_values = st.fixed_dictionaries(
    {"name": st.text(min_size=1, max_size=63)},
    optional={"pause": st.just(0)},
)
# Values every step of docs-site accepts (its `each` needs `pages`: defaults are the form's job).
_docs_valid = st.fixed_dictionaries(
    {"name": _slug, "owner": st.just("group:default/platform"), "pages": st.lists(_slug, max_size=3, unique=True)},
    optional={"title": st.text(max_size=30), "decisionLog": st.booleans()},
)
# Values the parameter schema accepts, though a step may not (no pages, an owner that is no ref).
_docs_values = st.fixed_dictionaries(
    {"name": _slug, "owner": st.sampled_from(["group:default/platform", "platform", ""])},
    optional={
        "title": st.text(max_size=30),
        "pages": st.lists(_slug, max_size=3, unique=True),
        "decisionLog": st.booleans(),
    },
)
_any_values = st.dictionaries(
    st.sampled_from(["name", "pause", "owner", "pages", "title", "decisionLog", "x"]),
    # Small numbers (a valid `pause` stays short, so event streams of new tasks end soon) or huge.
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-3, max_value=3), st.integers(min_value=10**6),
              st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20), st.lists(st.text(max_size=5), max_size=3)),
    max_size=4,
)
_secrets = st.none() | st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=10), max_size=2)


def _with_secrets(body, secrets):
    if secrets is not None:
        body = dict(body, secrets=secrets)
    return body


def _task_bodies():
    refs = {
        "hello-world": ["template:default/hello-world", "hello-world", "default/hello-world", "Template:default/hello-world"],
        "docs-site": ["template:default/docs-site", "docs-site", "default/docs-site"],
    }
    hello = st.tuples(st.sampled_from(refs["hello-world"]), _hello_values | _any_values, _secrets)
    docs = st.tuples(st.sampled_from(refs["docs-site"]), _docs_valid | _docs_values | _any_values, _secrets)
    unknown = st.tuples(
        st.sampled_from(["template:default/nope", "component:default/hello-world", "user:x", "template:", ":", ""]),
        _any_values,
        _secrets,
    )
    return st.one_of(hello, docs, unknown).map(
        lambda t: _with_secrets({"templateRef": t[0], "values": t[1]}, t[2])
    )


def _dry_run_bodies():
    hello = _template("hello-world")
    docs = _template("docs-site")
    docs_files = _files("docs-site")
    # A skeleton whose template expression never closes: the step fails, and so does the dry-run.
    broken_files = _files("docs-site", {"skeleton/mkdocs.yml": b"site_name: ${{ values.name\n"})
    # Runs that succeed first (hypothesis favours the first choices), then runs whose steps fail.
    cases = st.one_of(
        st.tuples(st.just(hello), _hello_values, st.just([])),
        st.tuples(st.just(docs), _docs_valid, st.just(docs_files)),
        st.tuples(st.just(docs), _docs_valid, st.just(broken_files)),
        st.tuples(st.just(docs), _docs_values, st.just([])),
        st.tuples(st.just(docs), _docs_values | _any_values, st.just(docs_files)),
        st.tuples(st.just(hello), _any_values, st.just([])),
    )
    return st.tuples(cases, _secrets).map(
        lambda t: _with_secrets(
            {"template": t[0][0], "values": t[0][1], "directoryContents": t[0][2]}, t[1]
        )
    )


def _oversized(body):
    """The body with a string that takes it past the server's body limit (the script sets it)."""
    return dict(body, padding="x" * (BODY_LIMIT + 1))


@schemathesis.hook
def before_generate_body(context, strategy):
    method, path = _operation(context)
    real = None
    if (method, path) == ("POST", "/v2/tasks"):
        real = _task_bodies()
    elif (method, path) == ("POST", "/v2/dry-run"):
        real = _dry_run_bodies()
    elif (method, path) == ("POST", "/v2/parse-template"):
        texts = [(TEMPLATES / name / "template.yaml").read_text() for name in REGISTERED]
        yaml_texts = st.sampled_from(texts) | st.sampled_from(texts).map(lambda t: t[: len(t) // 2])
        real = yaml_texts.map(lambda t: {"yaml": t})
    elif method == "POST" and path.endswith("/validate"):
        real = st.fixed_dictionaries(
            {"values": _hello_values | _docs_values | _any_values},
            optional={"page": st.integers(min_value=0, max_value=2)},
        )
    elif method == "POST" and path.endswith("/retry"):
        real = _secrets.map(lambda secrets: {} if secrets is None else {"secrets": secrets})
    if real is None:
        return strategy
    # Now and then (one in ten) a body past the limit: every route that reads one must answer 413.
    # (The last choice, as hypothesis prefers the first ones.)
    oversized = real.map(_oversized)
    return st.one_of(strategy, st.sampled_from(range(10)).flatmap(lambda i: oversized if i == 9 else real))


def _replace(generated, **values):
    """Positive parameters come as a dict; a negative case (a wrapped mutation) stays as it is."""
    if isinstance(generated, dict) or generated is None:
        return dict(generated or {}, **values)
    return generated


@schemathesis.hook
def before_generate_path_parameters(context, strategy):
    _, path = _operation(context)
    if path is None:
        return strategy
    if "{taskId}" in path and TASK_IDS:
        real = st.tuples(strategy, st.sampled_from(TASK_IDS)).map(lambda t: _replace(t[0], taskId=t[1]))
        return st.one_of(strategy, real)
    if path.startswith("/v2/templates/"):
        real = st.fixed_dictionaries(
            {
                "namespace": st.sampled_from(["default", "DEFAULT", "other"]),
                "kind": st.sampled_from(["template", "Template", "component"]),
                "name": st.sampled_from(REGISTERED + ["nope"]),
            }
        )
        return st.one_of(strategy, real)
    return strategy


# A failed step's error becomes the dry-run's answer, its status following the error's name as
# Backstage's error middleware maps it: 500 for most, 501 NotImplementedError, 503
# ServiceUnavailableError.
DRY_RUN_STEP_FAILURES = {500: None, 501: "NotImplementedError", 503: "ServiceUnavailableError"}


@schemathesis.check
def not_a_server_error_except_failed_dry_run(ctx, response, case):
    """No 5xx, except a dry-run's 500 error envelope for steps that failed."""
    if response.status_code < 500:
        return None
    text = response.content.decode("utf-8", "replace") if response.content else ""
    operation = case.operation
    if operation.method.upper() == "POST" and operation.path == "/v2/dry-run" and response.status_code in DRY_RUN_STEP_FAILURES:
        try:
            body = json.loads(text)
            message = body["error"]["message"]
            name = body["error"]["name"]
        except (ValueError, KeyError, TypeError):
            raise AssertionError(f"A dry-run's 500 is not Backstage's error envelope: {text[:500]}")
        if not isinstance(message, str) or not isinstance(name, str):
            raise AssertionError(f"A dry-run's 500 is not Backstage's error envelope: {text[:500]}")
        if message.startswith("The dry-run stopped unexpectedly") or message == "shutting down":
            raise AssertionError(f"The dry-run crashed: {text[:500]}")
        expected = DRY_RUN_STEP_FAILURES[response.status_code]
        if expected is not None and name != expected:
            raise AssertionError(f"A dry-run's {response.status_code} names {name}, not {expected}: {text[:500]}")
        return None
    raise AssertionError(f"Server error {response.status_code}: {text[:500]}")
