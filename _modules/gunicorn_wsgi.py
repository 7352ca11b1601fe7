"""
Switch Debian gunicorn configuration files from django mode to wsgi mode.

Synnefo 0.19 runs on gunicorn 19, which dropped django mode. A file in ``/etc/gunicorn.d`` is
Python that defines ``CONFIG = {...}``; the upgrade guide asks for ``'mode': 'wsgi'``,
``DJANGO_SETTINGS_MODULE`` in ``environment`` and ``synnefo.webproject.wsgi`` as the last
item of ``args``.

The file is never re-dumped: :py:func:`converted` locates the values with Python's ``ast``
and edits the text at those places only, so comments, quoting, order and indentation stay
as they were. The file is never executed.
"""

import ast
import os

from salt.exceptions import CommandExecutionError

__virtualname__ = "gunicorn_wsgi"

# Debian's gunicorn skips these names in /etc/gunicorn.d.
IGNORED_SUFFIXES = (".dpkg-dist", ".example")


def __virtual__():
    return __virtualname__


class ConfigError(CommandExecutionError):
    """The file cannot be converted safely; the message says why."""


def _offsets(source):
    """Byte offset of the start of each line (ast columns are UTF-8 byte offsets)."""
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def _span(starts, node):
    return (
        starts[node.lineno - 1] + node.col_offset,
        starts[node.end_lineno - 1] + node.end_col_offset,
    )


def _find_config(tree, path):
    found = None
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "CONFIG" for t in stmt.targets
        ):
            found = stmt.value
    if found is None:
        raise ConfigError(f"{path}: no CONFIG assignment")
    if not isinstance(found, ast.Dict):
        raise ConfigError(f"{path}:{found.lineno}: CONFIG is not a literal dict")
    return found


def _entries(node):
    """``{key: (key_node, value_node)}`` for the string keys of a dict node."""
    entries = {}
    for key, value in zip(node.keys, node.values):
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            entries[key.value] = (key, value)
    return entries


def _quote(data, starts, nodes):
    """The quote character the file already uses for strings among ``nodes``."""
    for node in nodes:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            begin, _ = _span(starts, node)
            char = data[begin : begin + 1]
            if char in (b"'", b'"'):
                return char.decode()
    return "'"


def _insert_entry(data, starts, dict_node, text):
    """An edit that adds ``text`` (``'key': value``) as the first entry of a dict."""
    begin, end = _span(starts, dict_node)
    if not dict_node.keys:
        return (begin + 1, end - 1, text)
    first = dict_node.keys[0] if dict_node.keys[0] is not None else dict_node.values[0]
    first_begin, _ = _span(starts, first)
    if first.lineno != dict_node.lineno:
        indent = " " * first.col_offset
        return (first_begin, first_begin, f"{text},\n{indent}")
    return (first_begin, first_begin, f"{text}, ")


def _args_edits(data, starts, args_node, wsgi_app, quote):
    """Edits that leave ``wsgi_app`` exactly once, as the last item of ``args``."""
    elts = args_node.elts
    values = [e.value if isinstance(e, ast.Constant) else None for e in elts]
    edits = []
    keep_last = bool(elts) and values[-1] == wsgi_app
    for index, value in enumerate(values[:-1] if elts else []):
        if value == wsgi_app:
            begin, _ = _span(starts, elts[index])
            next_begin, _ = _span(starts, elts[index + 1])
            edits.append((begin, next_begin, ""))
    if keep_last:
        return edits
    literal = f"{quote}{wsgi_app}{quote}"
    begin, end = _span(starts, args_node)
    if not elts:
        closing = data[end - 1 : end].decode()
        opening = data[begin : begin + 1].decode()
        if opening == "(":
            literal += ","
        edits.append((begin, end, f"{opening}{literal}{closing}"))
        return edits
    last = elts[-1]
    _, last_end = _span(starts, last)
    tail = data[last_end : end - 1]
    trailing_comma = tail.lstrip().startswith(b",")
    multi_line = last.lineno != args_node.lineno or elts[0].lineno != args_node.lineno
    if not multi_line:
        if trailing_comma:
            at = last_end + tail.index(b",") + 1
            edits.append((at, at, f" {literal},"))
        else:
            edits.append((last_end, last_end, f", {literal}"))
        return edits
    # One item a line: the new item goes on a line of its own, after any comment that
    # follows the last item, so the comment stays with the item it describes.
    after = last_end + tail.index(b",") + 1 if trailing_comma else last_end
    newline = data.find(b"\n", after, end - 1)
    at = newline if newline != -1 else after
    indent = " " * last.col_offset
    if trailing_comma:
        edits.append((at, at, f"\n{indent}{literal},"))
    else:
        edits.append((last_end, last_end, ","))
        edits.append((at, at, f"\n{indent}{literal}"))
    return edits


def _analyse(source, path):
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not valid Python: {exc.msg}") from exc
    return _find_config(tree, path)


def converted(path, wsgi_app="synnefo.webproject.wsgi", settings_module="synnefo.settings", text=None):
    """
    Return what the gunicorn config ``path`` (or ``text``) becomes in wsgi mode:
    ``{'text': new text, 'changed': bool, 'notes': [...]}``. Nothing is written.

    Raises an error naming the file and line when the file is not valid Python, has no
    literal ``CONFIG`` dict, or has an ``args`` or ``environment`` that is not a literal.

    CLI Example:

    .. code-block:: bash

        salt '*' gunicorn_wsgi.converted /etc/gunicorn.d/synnefo
    """
    if text is None:
        text = __salt__["synnefo_files.read"](path)
        if text is None:
            raise ConfigError(f"{path}: no such file")
    data = text.encode("utf-8")
    starts = _offsets(data)
    config = _analyse(text, path)
    entries = _entries(config)
    quote = _quote(data, starts, config.keys)
    notes = []
    edits = []

    if "mode" in entries:
        mode_node = entries["mode"][1]
        if not (isinstance(mode_node, ast.Constant) and mode_node.value == "wsgi"):
            begin, end = _span(starts, mode_node)
            value_quote = _quote(data, starts, [mode_node, *config.keys])
            edits.append((begin, end, f"{value_quote}wsgi{value_quote}"))
    else:
        edits.append(_insert_entry(data, starts, config, f"{quote}mode{quote}: {quote}wsgi{quote}"))

    setting = f"{quote}DJANGO_SETTINGS_MODULE{quote}: {quote}{settings_module}{quote}"
    if "environment" in entries:
        env_node = entries["environment"][1]
        if not isinstance(env_node, ast.Dict):
            raise ConfigError(f"{path}:{env_node.lineno}: 'environment' is not a literal dict")
        env = _entries(env_node)
        if "DJANGO_SETTINGS_MODULE" in env:
            current = env["DJANGO_SETTINGS_MODULE"][1]
            if not (isinstance(current, ast.Constant) and current.value == settings_module):
                shown = current.value if isinstance(current, ast.Constant) else ast.unparse(current)
                notes.append(
                    f"environment DJANGO_SETTINGS_MODULE is {shown!r}, not {settings_module!r}: kept"
                )
        else:
            edits.append(_insert_entry(data, starts, env_node, setting))
    else:
        edits.append(_insert_entry(data, starts, config, f"{quote}environment{quote}: {{{setting}}}"))

    if "args" in entries:
        args_node = entries["args"][1]
        if not isinstance(args_node, (ast.List, ast.Tuple)):
            raise ConfigError(f"{path}:{args_node.lineno}: 'args' is not a literal list or tuple")
        args_quote = _quote(data, starts, [*args_node.elts, *config.keys])
        edits.extend(_args_edits(data, starts, args_node, wsgi_app, args_quote))
    else:
        edits.append(_insert_entry(data, starts, config, f"{quote}args{quote}: ({quote}{wsgi_app}{quote},)"))

    for begin, end, replacement in sorted(edits, reverse=True):
        data = data[:begin] + replacement.encode("utf-8") + data[end:]
    new_text = data.decode("utf-8")
    if new_text != text:
        _verify(new_text, path, wsgi_app)
    return {"text": new_text, "changed": new_text != text, "notes": notes}


def _verify(new_text, path, wsgi_app):
    """Refuse to hand back an edit that did not reach the wanted shape."""
    try:
        config = _analyse(new_text, path)
    except ConfigError as exc:
        raise ConfigError(f"{path}: internal error, the edit broke the file: {exc}") from exc
    entries = _entries(config)
    args = [e.value for e in entries["args"][1].elts if isinstance(e, ast.Constant)]
    if entries["mode"][1].value != "wsgi" or args.count(wsgi_app) != 1 or args[-1] != wsgi_app:
        raise ConfigError(f"{path}: internal error, the edit did not reach wsgi mode")


def mode(path):
    """
    Return the ``mode`` a gunicorn config file sets (``None`` when it sets none).

    CLI Example:

    .. code-block:: bash

        salt '*' gunicorn_wsgi.mode /etc/gunicorn.d/synnefo
    """
    text = __salt__["synnefo_files.read"](path)
    if text is None:
        raise ConfigError(f"{path}: no such file")
    node = _entries(_analyse(text, path)).get("mode")
    if node is None:
        return None
    value = node[1]
    return value.value if isinstance(value, ast.Constant) else ast.unparse(value)


def django_mode_configs(config_dir="/etc/gunicorn.d"):
    """
    List the files in ``config_dir`` that Debian's gunicorn loads and that are not in wsgi
    mode yet: ``{path: mode}``; a file that cannot be read as a config is listed with the
    reason instead of a mode.

    CLI Example:

    .. code-block:: bash

        salt '*' gunicorn_wsgi.django_mode_configs
    """
    found = {}
    if not os.path.isdir(config_dir):
        return found
    for name in sorted(os.listdir(config_dir)):
        path = os.path.join(config_dir, name)
        if name.startswith(".") or name.endswith(IGNORED_SUFFIXES) or not os.path.isfile(path):
            continue
        try:
            current = mode(path)
        except CommandExecutionError as exc:
            found[path] = f"unreadable: {exc}"
            continue
        if current == "django":
            found[path] = current
    return found
