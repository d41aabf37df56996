//! Table-driven rendering tests: every filter, test and operator, native types, errors, limits.

use serde_json::json;

use super::*;

fn context() -> RenderContext {
    RenderContext::new().with(
        "parameters",
        json!({
            "name": "alpha", "count": 3, "ok": true, "tags": ["a", "b"], "obj": {"k": "v", "n": 2}, "nothing": null,
            "empty": "", "zero": 0, "list": [], "url": "github.com?owner=acme&repo=app", "port": 8080, "ratio": 0.25,
            "text": "Hello World", "spaced": "  pad  ", "unicode": "héllo😀", "words": "one two three",
            "a-b": "dash", "items": [{"n": "x", "on": true}, {"n": "y", "on": false}], "csv": "a,b,c", "mixed": [3, 1, 2],
        }),
    )
}

fn text(source: &str) -> String {
    Renderer::new().render_text(source, &context()).unwrap_or_else(|e| panic!("{source}: {e}"))
}

fn value(source: &str) -> Option<Value> {
    Renderer::new().render_string(source, &context()).unwrap_or_else(|e| panic!("{source}: {e}"))
}

#[test]
fn native_types_from_whole_expressions() {
    let cases = [
        ("${{ parameters.count }}", Some(json!(3))),
        ("${{ parameters.ok }}", Some(json!(true))),
        ("${{ parameters.tags }}", Some(json!(["a", "b"]))),
        ("${{ parameters.obj }}", Some(json!({"k": "v", "n": 2}))),
        ("${{ parameters.nothing }}", Some(Value::Null)),
        ("${{ parameters.missing }}", None),
        ("${{parameters.name}}", Some(json!("alpha"))),
        ("${{ { 'a': 1, b: parameters.count } }}", Some(json!({"a": 1, "b": 3}))),
        ("${{ [parameters.name, 'x'] }}", Some(json!(["alpha", "x"]))),
        ("${{ parameters.count * 2 + 1 }}", Some(json!(7))),
        ("${{ 4 / 2 }}", Some(json!(2))),
        ("${{ '8080' }}", Some(json!("8080"))),
        ("${{ null }}", Some(Value::Null)),
        ("${{ 'x' if false }}", Some(json!(""))),
        ("${{ parameters.count }}${{ parameters.count }}", Some(json!("33"))),
        (" ${{ parameters.count }}", Some(json!(" 3"))),
    ];
    for (source, expected) in cases {
        assert_eq!(value(source), expected, "{source}");
    }
}

#[test]
fn javascript_operators() {
    let cases = [
        ("${{ parameters.count == '3' }}", "true"),
        ("${{ parameters.count === '3' }}", "false"),
        ("${{ parameters.count !== 3 }}", "false"),
        ("${{ parameters.missing == null }}", "true"),
        ("${{ parameters.missing === null }}", "false"),
        ("${{ parameters.empty or 'fallback' }}", "fallback"),
        ("${{ parameters.name and 'second' }}", "second"),
        ("${{ 'a' + 1 }}", "a1"),
        ("${{ 1 + 2 }}", "3"),
        ("${{ 'x' ~ 1 }}", "x1"),
        ("${{ 7 // 2 }}", "3"),
        ("${{ -7 % 2 }}", "-1"),
        ("${{ 2 ** 10 }}", "1024"),
        ("${{ 1 / 3 }}", "0.3333333333333333"),
        ("${{ 'b' in parameters.tags }}", "true"),
        ("${{ 'z' not in parameters.tags }}", "true"),
        ("${{ 'lph' in parameters.name }}", "true"),
        ("${{ 'k' in parameters.obj }}", "true"),
        ("${{ parameters.count > 2 and parameters.count < 4 }}", "true"),
        ("${{ '10' < '9' }}", "true"),
        ("${{ not parameters.list }}", "false"),
        ("${{ 'yes' if parameters.list else 'no' }}", "yes"),
        ("${{ 'a' if parameters.zero else ('b' if parameters.ok else 'c') }}", "b"),
        ("${{ parameters['a-b'] }}", "dash"),
        ("${{ parameters.tags[1] }}", "b"),
        ("${{ parameters.tags.length }}", "2"),
        ("${{ parameters.unicode.length }}", "7"),
        ("${{ parameters.csv.split(',')[2] }}", "c"),
        ("${{ parameters.name.toUpperCase() }}", "ALPHA"),
        ("${{ parameters.text.replace('o', '0') }}", "Hell0 World"),
        ("${{ parameters.tags.includes('a') }}", "true"),
        ("${{ parameters.tags.join('+') }}", "a+b"),
        ("${{ parameters.ratio.toFixed(2) }}", "0.25"),
        ("${{ parameters.name.slice(-3) }}", "pha"),
        ("${{ parameters.obj }}", "[object Object]"),
        ("${{ parameters.tags }}", "a,b"),
        ("${{ parameters.missing.deeper.still }}", ""),
        ("${{ parameters.nothing }}", ""),
        ("${{ true }}|${{ false }}", "true|false"),
    ];
    for (source, expected) in cases {
        assert_eq!(text(source), expected, "{source}");
    }
}

#[test]
fn filters_behave_like_nunjucks() {
    let cases = [
        ("${{ -3 | abs }}", "3"),
        ("${{ 'hELLO wORLD' | capitalize }}", "Hello world"),
        ("[${{ 'x' | center(5) }}]", "[  x  ]"),
        ("${{ parameters.missing | default('d') }}", "d"),
        ("${{ parameters.nothing | default('d') }}", ""),
        ("${{ parameters.empty | default('d', true) }}", "d"),
        ("${{ parameters.missing | d('short') }}", "short"),
        ("${{ parameters.obj | dump }}", r#"{"k":"v","n":2}"#),
        ("${{ parameters.tags | dump(2) }}", "[\n  \"a\",\n  \"b\"\n]"),
        ("${{ parameters.name | dump }}", "\"alpha\""),
        ("${{ '<b>' | escape }}", "&lt;b&gt;"),
        ("${{ parameters.tags | first }}-${{ parameters.tags | last }}", "a-b"),
        ("${{ parameters.name | first }}", "a"),
        ("${{ '1.5kg' | float }}", "1.5"),
        ("${{ '42px' | int }}", "42"),
        ("${{ 'x' | int(7) }}", "7"),
        ("${{ 'ff' | int(0, 16) }}", "255"),
        ("${{ 'a\nb' | indent(2) }}", "a\n  b"),
        ("${{ 'a\nb' | indent(2, true) }}", "  a\n  b"),
        ("${{ parameters.tags | join }}", "ab"),
        ("${{ parameters.tags | join(', ') }}", "a, b"),
        ("${{ parameters.items | join(',', 'n') }}", "x,y"),
        ("${{ parameters.unicode | length }}", "7"),
        ("${{ parameters.obj | length }}", "2"),
        ("${{ parameters.missing | length }}", "0"),
        ("${{ 'ABC' | lower }}${{ 'abc' | upper }}", "abcABC"),
        ("${{ 'a/tree/b' | replace('/tree/', '/blob/') }}", "a/blob/b"),
        ("${{ 'aaa' | replace('a', 'b', 2) }}", "bba"),
        ("${{ 'abc' | replace('', '-') }}", "-a-b-c-"),
        ("${{ 'a1b22' | replace(r/\\d+/g, '#') }}", "a#b#"),
        ("${{ 'a1b22' | replace(r/(\\d)/, '<$1>') }}", "a<1>b22"),
        ("${{ 'abc' | reverse }}", "cba"),
        ("${{ parameters.tags | reverse | join }}", "ba"),
        ("${{ 2.567 | round(2) }}", "2.57"),
        ("${{ 2.5 | round }}", "3"),
        ("${{ 2.1 | round(0, 'ceil') }}", "3"),
        ("${{ parameters.mixed | sort | join }}", "123"),
        ("${{ parameters.mixed | sort(true) | join }}", "321"),
        ("${{ parameters.port | string }}", "8080"),
        ("${{ '<p>a   b</p>' | striptags }}", "a b"),
        ("${{ [1, 2, 3] | sum }}", "6"),
        ("${{ 'hello big world' | title }}", "Hello Big World"),
        ("[${{ parameters.spaced | trim }}]", "[pad]"),
        ("${{ 'one two three four' | truncate(9) }}", "one two..."),
        ("${{ 'one two three' | truncate(5, true, '!') }}", "one t!"),
        ("${{ 'a b&c' | urlencode }}", "a%20b%26c"),
        ("${{ {'a': 'b c', 'd': 1} | urlencode }}", "a=b%20c&d=1"),
        ("${{ parameters.words | wordcount }}", "3"),
        ("${{ parameters.items | selectattr('on') | length }}", "1"),
        ("${{ parameters.items | rejectattr('on') | first | pick('n') }}", "y"),
        ("${{ [1, 2, 3, 4] | select('odd') | join }}", "13"),
        ("${{ [1, 2, 3, 4] | reject('odd') | join }}", "24"),
        ("${{ {'b': 1, 'a': 2} | dictsort | first | first }}", "a"),
        ("${{ 'ab' | list | join('-') }}", "a-b"),
    ];
    for (source, expected) in cases {
        assert_eq!(text(source), expected, "{source}");
    }
    assert_eq!(value("${{ parameters.port | string }}"), Some(json!("8080")));
    assert_eq!(value("${{ parameters.missing | dump }}"), None);
}

#[test]
fn backstage_filters() {
    assert_eq!(
        value("${{ parameters.url | parseRepoUrl }}"),
        Some(json!({"host": "github.com", "owner": "acme", "repo": "app"}))
    );
    assert_eq!(text("${{ parameters.url | projectSlug }}"), "acme/app");
    assert_eq!(
        value("${{ 'group:default/team' | parseEntityRef }}"),
        Some(json!({"kind": "group", "namespace": "default", "name": "team"}))
    );
    assert_eq!(
        value("${{ 'team' | parseEntityRef({ defaultKind: 'group', defaultNamespace: 'ns' }) }}"),
        Some(json!({"kind": "group", "namespace": "ns", "name": "team"}))
    );
    assert_eq!(text("${{ parameters.items | pick('[1].n') }}"), "y");
    let r = Renderer::new();
    assert!(r.render_string("${{ 'nope.example?owner=a&repo=b' | parseRepoUrl }}", &context()).is_err());
    assert!(r.render_string("${{ 'team' | parseEntityRef }}", &context()).is_err());
    let internal = Renderer::with_options(&RenderOptions {
        integrations: vec![Integration::new("git.acme.internal", "github")],
        ..RenderOptions::default()
    });
    assert_eq!(
        internal.render_text("${{ 'git.acme.internal?owner=o&repo=r' | projectSlug }}", &context()).unwrap(),
        "o/r"
    );
}

#[test]
fn tests_behave_like_nunjucks() {
    let cases = [
        ("${{ parameters.name is string }}", "true"),
        ("${{ parameters.port is not string }}", "true"),
        ("${{ parameters.port is number }}", "true"),
        ("${{ parameters.port is defined }}", "true"),
        ("${{ parameters.missing is undefined }}", "true"),
        ("${{ parameters.missing is null }}", "false"),
        ("${{ parameters.nothing is null }}", "true"),
        ("${{ parameters.obj is mapping }}", "true"),
        ("${{ parameters.tags is mapping }}", "false"),
        ("${{ parameters.tags is iterable }}", "true"),
        ("${{ parameters.port is odd }}", "false"),
        ("${{ parameters.count is odd }}", "true"),
        ("${{ parameters.port is divisibleby(10) }}", "true"),
        ("${{ parameters.port is divisibleby 3 }}", "false"),
        ("${{ parameters.name is lower }}", "true"),
        ("${{ parameters.count is eq(3) }}", "true"),
        ("${{ parameters.count is sameas('3') }}", "false"),
        ("${{ parameters.count is gt(2) }}", "true"),
        ("${{ parameters.empty is falsy }}", "true"),
        ("${{ parameters.list is truthy }}", "true"),
    ];
    for (source, expected) in cases {
        assert_eq!(text(source), expected, "{source}");
    }
}

#[test]
fn statements() {
    let cases = [
        ("{% if parameters.ok %}y{% else %}n{% endif %}", "y"),
        ("{% if parameters.list %}truthy{% endif %}", "truthy"),
        ("{% if parameters.zero %}a{% elseif parameters.ok %}b{% endif %}", "b"),
        ("{% for t in parameters.tags %}${{ loop.index }}${{ t }}{% endfor %}", "1a2b"),
        ("{% for k, v in parameters.obj %}${{ k }}=${{ v }};{% endfor %}", "k=v;n=2;"),
        ("{% for x in parameters.missing %}x{% else %}none{% endfor %}", "none"),
        ("{% for x in parameters.obj %}never{% endfor %}", ""),
        ("{% set greeting = 'hi ' + parameters.name %}${{ greeting }}", "hi alpha"),
        ("{% raw %}${{ keep }}{% endraw %}", "${{ keep }}"),
        ("{% verbatim %}{% tag %}{% endverbatim %}", "{% tag %}"),
        ("a {# comment #}b", "a b"),
        ("{% switch parameters.count %}{% case 1 %}one{% case 3 %}three{% default %}other{% endswitch %}", "three"),
        ("{%- if true %}\n  x\n{%- endif %}", "\n  x"),
        ("${{- ' a ' -}}", " a "),
        ("{% macro hello(who) %}hi ${{ who }}{% endmacro %}${{ hello('you') }}", "hi you"),
        ("line\n", "line\n"),
    ];
    for (source, expected) in cases {
        assert_eq!(text(source), expected, "{source}");
    }
}

#[test]
fn render_value_removes_undefined_keys_and_keeps_failures_raw() {
    let r = Renderer::new();
    let input = json!({"a": "${{ parameters.name }}", "gone": "${{ parameters.missing }}", "bad": "${{ parameters.name | nosuchfilter }}", "n": 5, "list": ["${{ parameters.count }}", "${{ parameters.missing }}"]});
    assert_eq!(
        r.render_value(&input, &context()).unwrap(),
        json!({"a": "alpha", "bad": "${{ parameters.name | nosuchfilter }}", "n": 5, "list": [3, null]})
    );
}

#[test]
fn errors_say_where_and_what() {
    let r = Renderer::new();
    let error = r.render_text("line one\n{% for x in parameters.tags %}\n", &context()).unwrap_err();
    assert_eq!(error.message, "Template error at line 2, column 1: Missing endfor tag");
    let error = r.render_text("{% if a %}{% endfor %}", &context()).unwrap_err();
    assert!(error.message.contains("unexpected endfor"), "{error:?}");
    let error = r.render_text("a\nb ${{ parameters.name + }}", &context()).unwrap_err();
    assert_eq!(error.line, Some(2), "{error:?}");
    assert!(error.message.contains("column"), "{error:?}");
    let error = r.render_text("{% include 'other.njk' %}", &context()).unwrap_err();
    assert!(error.message.contains("Unsupported template-loading tag"), "{error:?}");
    assert!(r.render_text("${{ parameters.name | nosuchfilter }}", &context()).is_err());
}

#[test]
fn limits_stop_runaway_templates() {
    let r = Renderer::new();
    let error = r
        .render_text("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}", &context())
        .unwrap_err();
    assert!(error.limit, "{error:?}");
    let small = Renderer::with_options(&RenderOptions { max_output: 1000, ..RenderOptions::default() });
    let error = small.render_text("{% for i in range(500) %}0123456789{% endfor %}", &context()).unwrap_err();
    assert!(error.message.contains("larger than the limit"), "{error:?}");
    let deep = format!("${{{{ {}1{} }}}}", "(".repeat(500), ")".repeat(500));
    assert!(r.render_text(&deep, &context()).is_err());
    assert!(r.render_text("{% macro f(n) %}${{ f(n) }}{% endmacro %}${{ f(1) }}", &context()).is_err());
}

#[test]
fn status_checks_report_whether_they_were_called() {
    let r = Renderer::new();
    let c = context().with_status_checks(true);
    assert_eq!(r.render_string("${{ failure() }}", &c).unwrap(), Some(json!(true)));
    assert!(c.take_status_check_invoked());
    assert!(!c.take_status_check_invoked());
    assert_eq!(r.render_string("${{ parameters.ok }}", &c).unwrap(), Some(json!(true)));
    assert!(!c.take_status_check_invoked());
    let ok = context().with_status_checks(false);
    assert_eq!(r.render_string("${{ always() and not failure() }}", &ok).unwrap(), Some(json!(true)));
}

#[test]
fn cookiecutter_syntax() {
    let r = Renderer::with_options(&RenderOptions { cookiecutter: true, ..RenderOptions::default() });
    let c = RenderContext::new().with("cookiecutter", json!({"name": "svc", "obj": {"a": 1}}));
    assert_eq!(
        r.render_text("{{ cookiecutter.name }} ${{ kept }} {{ cookiecutter.obj | jsonify }}", &c).unwrap(),
        "svc $ {\"a\":1}"
    );
}

#[test]
fn single_expression_detection() {
    assert_eq!(single_expression("${{ a }}", "${{"), Some(" a "));
    assert_eq!(single_expression("${{ a }} and ${{ b }}", "${{"), None);
    assert_eq!(single_expression("${{ '}}' }}", "${{"), Some(" '}}' "));
    assert_eq!(single_expression("x${{ a }}", "${{"), None);
    assert_eq!(single_expression("${{ a }}x", "${{"), None);
}

#[test]
fn every_listed_filter_exists() {
    let listing = crate::templating_extensions();
    let filters = listing["filters"].as_object().unwrap();
    assert!(filters.len() > 40, "{}", filters.len());
    for (name, metadata) in filters {
        assert!(metadata["description"].as_str().is_some_and(|d| !d.is_empty()), "{name} has no description");
        assert!(metadata["examples"].as_array().is_some_and(|e| !e.is_empty()), "{name} has no example");
        // Unknown filters fail at parse time; a known one may still reject this input.
        let result = Renderer::new().render_text(&format!("${{{{ parameters.name | {name} }}}}"), &context());
        if let Err(error) = result {
            let message = error.to_string();
            assert!(!message.contains("is unknown"), "{name}: {message}");
        }
    }
    let unknown = Renderer::new().render_text("${{ parameters.name | nosuchfilter }}", &context()).unwrap_err();
    assert!(unknown.to_string().contains("filter nosuchfilter is unknown"), "{unknown}");
    for name in ["always", "failure", "range"] {
        assert!(listing["globals"]["functions"][name]["description"].is_string(), "{name}");
    }
}

#[test]
fn failing_strings_are_kept_and_reported_with_their_place() {
    let value = json!({"a": "${{ parameters.name | nosuchfilter }}", "b": ["ok ${{ parameters.name }}", "x ${{ 1 + }}"], "c": 3});
    let (rendered, problems) = Renderer::new().render_value_checked(&value, &context(), "input");
    assert_eq!(
        rendered,
        Some(json!({"a": "${{ parameters.name | nosuchfilter }}", "b": ["ok alpha", "x ${{ 1 + }}"], "c": 3}))
    );
    let places: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(places, ["input.a", "input.b[1]"]);
    assert!(problems[0].message.contains("nosuchfilter"), "{}", problems[0].message);
    assert!(problems[0].to_string().starts_with(
        "input.a could not be rendered and is used as written: \"${{ parameters.name | nosuchfilter }}\": "
    ));
    // The unchecked form gives the same value.
    assert_eq!(Renderer::new().render_value(&value, &context()), rendered);
}

/// Found by fuzzing (fuzz/, template_render): negating i64::MIN overflowed (a panic with overflow
/// checks, the wrong sign without). JavaScript gives the double 9223372036854775808.
#[test]
fn negating_the_smallest_integer_gives_a_double() {
    let context = RenderContext::new().with("parameters", json!({"min": i64::MIN, "max": i64::MAX}));
    let renderer = Renderer::new();
    assert_eq!(renderer.render_string("${{ -parameters.min }}", &context).unwrap(), Some(json!(9.223372036854776e18)));
    assert_eq!(renderer.render_string("${{ -parameters.max }}", &context).unwrap(), Some(json!(-i64::MAX)));
    let text = renderer.render_text("${{ -parameters.min }}", &context).unwrap();
    assert!(text.starts_with("92233720368547758"), "{text}");
}
