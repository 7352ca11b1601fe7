"""
Switch Debian gunicorn configuration files from django mode to wsgi mode.

Synnefo 0.19 runs on gunicorn 19, which dropped django mode. A file in ``/etc/gunicorn.d`` is
Python that defines ``CONFIG = {...}``; the upgrade guide asks for ``'mode': 'wsgi'``,
``DJANGO_SETTINGS_MODULE`` in ``environment`` and ``synnefo.webproject.wsgi`` as the last
item of ``args``.

The file is never re-dumped: :py:func:`converted` reads its structure with Python's ``ast``,
finds where each value stands with ``tokenize`` (exact on Python 2.7 and 3 alike) and edits
the text at those places only, so comments, quoting, order and indentation stay as they were.
The result is parsed again before it is handed back. The file is never executed.
"""

from __future__ import absolute_import, print_function, unicode_literals

import ast
import bisect
import io
import logging
import os
import re
import sys
import tokenize

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "gunicorn_wsgi"

# Debian's gunicorn skips these names in /etc/gunicorn.d.
IGNORED_SUFFIXES = (".dpkg-dist", ".example")
_CLOSING = {"(": ")", "[": "]", "{": "}"}
_SKIPPED_TOKENS = (tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)
_TEXT = type("")  # unicode on Python 2 (unicode_literals), str on Python 3


def __virtual__():
    return __virtualname__


class ConfigError(CommandExecutionError):
    """The file cannot be converted safely; the message says why."""


class _Source(object):
    """A config's text with its significant tokens, positions as offsets into the text."""

    def __init__(self, text):
        self.text = text
        self.lines = io.StringIO(text, newline="").readlines()
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))
        self.tokens = []  # (type, string, begin, end, row)
        lines = iter(self.lines)
        for token in tokenize.generate_tokens(lambda: next(lines, "")):
            kind, string, (srow, scol), (erow, ecol) = token[:4]
            if kind not in _SKIPPED_TOKENS:
                self.tokens.append((kind, string, self.starts[srow - 1] + scol, self.starts[erow - 1] + ecol, srow))

    def column(self, offset):
        return offset - self.starts[bisect.bisect_right(self.starts, offset) - 1]

    def statement_value(self, statement):
        """Index of the first token of an assignment's value (after its last ``=``)."""
        begin = self.starts[statement.lineno - 1] + statement.col_offset
        index = next(i for i, token in enumerate(self.tokens) if token[2] >= begin)
        depth, value = 0, None
        while self.tokens[index][0] != tokenize.NEWLINE:
            string = self.tokens[index][1]
            if string in _CLOSING:
                depth += 1
            elif string in _CLOSING.values():
                depth -= 1
            elif string == "=" and depth == 0:
                value = index + 1
            index += 1
        return value

    def display(self, index):
        """The items of the bracket display whose opening token is ``index``:
        ``(items, close)``, each item ``[(first, last)]`` token ranges, split at ``:`` for
        dict entries; ``close`` is the closing token's index."""
        items, parts, first, depth = [], [], index + 1, 0
        for position in range(index + 1, len(self.tokens)):
            string = self.tokens[position][1]
            if depth == 0 and string in (",", ":", _CLOSING[self.tokens[index][1]]):
                if position > first:
                    parts.append((first, position - 1))
                if string != ":" and parts:
                    items.append(parts)
                    parts = []
                if string == _CLOSING[self.tokens[index][1]]:
                    return items, position
                first = position + 1
            elif string in _CLOSING:
                depth += 1
            elif string in _CLOSING.values():
                depth -= 1
        raise ValueError("unclosed display")

    def span(self, tokens):
        first, last = tokens
        return self.tokens[first][2], self.tokens[last][3]

    def row(self, tokens):
        return self.tokens[tokens[0]][4]


def _string(node):
    """The value of a string literal node, else None (Python 2's and 3's nodes alike)."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, RuntimeError):
        return None
    if isinstance(value, bytes) and bytes is str:  # Python 2: a plain '...' literal
        value = value.decode("utf-8")
    return value if isinstance(value, _TEXT) else None


def _parse(text, path):
    # Python 2 refuses a coding declaration in a unicode source: give it the bytes.
    source = text.encode("utf-8") if sys.version_info[0] == 2 else text
    try:
        return ast.parse(source, filename=path)
    except SyntaxError as exc:
        raise ConfigError("{}:{}: not valid Python: {}".format(path, exc.lineno, exc.msg))
    except (MemoryError, RuntimeError):  # Python 2's parser stack, Python 3's recursion limit
        raise ConfigError("{}: nested too deeply to be read".format(path))


def _find_config(tree, path):
    found = None
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "CONFIG" for t in stmt.targets):
            found = stmt
    if found is None:
        raise ConfigError("{}: no CONFIG assignment".format(path))
    if not isinstance(found.value, ast.Dict):
        raise ConfigError("{}:{}: CONFIG is not a literal dict".format(path, found.value.lineno))
    return found


class _Dict(object):
    """A dict display: its ast node, its tokens and its string-keyed entries."""

    def __init__(self, source, node, index, path):
        if source.tokens[index][1] != "{":
            raise ConfigError("{}:{}: a dict in parentheses; remove them".format(path, node.lineno))
        self.node = node
        self.open = index
        items, self.close = source.display(index)
        if len(items) != len(node.keys):
            raise ConfigError("{}:{}: this dict cannot be edited in place".format(path, node.lineno))
        self.items = items
        self.entries = {}
        for item, key, value in zip(items, node.keys, node.values):
            name = _string(key) if key is not None else None
            if name is not None and len(item) == 2:
                self.entries[name] = (item[0], item[1], value)


def _quote(source, items):
    """The quote character the file already uses for strings among the token ranges ``items``."""
    for item in items:
        first, last = item
        text = source.tokens[first][1]
        if first == last and source.tokens[first][0] == tokenize.STRING and text[:1] in ("'", '"'):
            return text[:1]
    return "'"


def _insert_entry(source, display, text):
    """An edit that adds ``text`` (``'key': value``) as the first entry of a dict (several
    at one place in an empty dict read ``{a, b, }``: each carries its comma)."""
    begin = source.tokens[display.open][2]
    if not display.items:
        return (begin + 1, begin + 1, "{}, ".format(text))
    first = display.items[0][0]
    first_begin = source.span(first)[0]
    if source.row(first) != source.tokens[display.open][4]:
        indent = " " * source.column(first_begin)
        return (first_begin, first_begin, "{},\n{}".format(text, indent))
    return (first_begin, first_begin, "{}, ".format(text))


def _args_edits(source, args_node, index, wsgi_app, quote):
    """Edits that leave ``wsgi_app`` exactly once, as the last item of ``args``."""
    items, close = source.display(index)
    elts = [item[0] for item in items]
    values = [_string(e) for e in args_node.elts]
    data = source.text
    edits = []
    keep_last = bool(elts) and values[-1] == wsgi_app
    for position, value in enumerate(values[:-1] if elts else []):
        if value == wsgi_app:
            begin = source.span(elts[position])[0]
            next_begin = source.span(elts[position + 1])[0]
            edits.append((begin, next_begin, ""))
    begin, end = source.tokens[index][2], source.tokens[close][3]
    if keep_last:
        # ('app', 'app') becomes ('app',): a one-item tuple needs its comma.
        last_end = source.span(elts[-1])[1]
        if data[begin] == "(" and len(elts) - len(edits) == 1 and not data[last_end : end - 1].strip().startswith(","):
            edits.append((last_end, last_end, ","))
        return edits
    literal = "{}{}{}".format(quote, wsgi_app, quote)
    if not elts:
        closing = data[end - 1 : end]
        opening = data[begin : begin + 1]
        if opening == "(":
            literal += ","
        edits.append((begin, end, "{}{}{}".format(opening, literal, closing)))
        return edits
    last = elts[-1]
    last_end = source.span(last)[1]
    tail = data[last_end : end - 1]
    trailing_comma = tail.lstrip().startswith(",")
    open_row = source.tokens[index][4]
    multi_line = source.row(last) != open_row or source.row(elts[0]) != open_row
    if not multi_line:
        if trailing_comma:
            at = last_end + tail.index(",") + 1
            edits.append((at, at, " {},".format(literal)))
        else:
            edits.append((last_end, last_end, ", {}".format(literal)))
        return edits
    # One item a line: the new item goes on a line of its own, after any comment that
    # follows the last item, so the comment stays with the item it describes.
    after = last_end + tail.index(",") + 1 if trailing_comma else last_end
    newline = data.find("\n", after, end - 1)
    at = newline if newline != -1 else after
    indent = " " * source.column(source.span(last)[0])
    if trailing_comma:
        edits.append((at, at, "\n{}{},".format(indent, literal)))
    elif at == last_end:  # the closing bracket right after the last item: one edit, in order
        edits.append((last_end, last_end, ",\n{}{}".format(indent, literal)))
    else:
        edits.append((last_end, last_end, ","))
        edits.append((at, at, "\n{}{}".format(indent, literal)))
    return edits


def _analyse(text, path):
    """``(source, CONFIG's _Dict)`` of a config's text."""
    lone = re.search(r"\r(?!\n)", text)
    if lone:
        raise ConfigError(
            "{}:{}: lone CR line endings (old Mac style): this module edits LF or CRLF files only; "
            "convert the file (tr '\\r' '\\n') and run again".format(
                path, text.count("\r", 0, lone.start()) + text.count("\n", 0, lone.start()) + 1
            )
        )
    tree = _parse(text, path)
    statement = _find_config(tree, path)
    _refuse_overrides(tree, statement, path)
    source = _Source(text)
    return source, _Dict(source, statement.value, source.statement_value(statement), path)


_EDITED_KEYS = ("mode", "args", "environment")


def _refuse_overrides(tree, statement, path):
    """Refuse a file where something else could set what the edit sets: an entry of CONFIG
    whose key is not a literal string (``**BASE``, ``NAME: ...``), or a later statement that
    changes CONFIG (``CONFIG['mode'] = ...``, ``CONFIG.update(...)``) other than through a
    literal key the edit does not touch."""
    for key in statement.value.keys:
        if key is None or _string(key) is None:
            line = key.lineno if key is not None else statement.value.lineno
            raise ConfigError(
                "{}:{}: CONFIG has an entry whose key is not a literal string ({}): it could set mode, args or "
                "environment over the edit; switch this file to wsgi mode by hand".format(path, line, "**" if key is None else "a name")
            )
    for node in tree.body[tree.body.index(statement) + 1 :]:
        for child in ast.walk(node):
            touched = None
            if isinstance(child, ast.Subscript) and isinstance(child.value, ast.Name) and child.value.id == "CONFIG":
                index = child.slice.value if hasattr(ast, "Index") and isinstance(child.slice, ast.Index) else child.slice
                key = _string(index)
                if isinstance(child.ctx, (ast.Store, ast.Del)) and (key is None or key in _EDITED_KEYS):
                    touched = "CONFIG[{}]".format("'{}'".format(key) if key is not None else "...")
            elif isinstance(child, ast.Attribute) and isinstance(child.value, ast.Name) and child.value.id == "CONFIG":
                touched = "CONFIG.{}".format(child.attr)
            elif isinstance(child, ast.Name) and child.id == "CONFIG" and isinstance(child.ctx, ast.Store):
                touched = "CONFIG ="
            if touched:
                raise ConfigError(
                    "{}:{}: {} changes CONFIG after the dict the edit switches to wsgi mode; it could undo the edit: "
                    "switch this file by hand".format(path, child.lineno, touched)
                )


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
            raise ConfigError("{}: no such file".format(path))
    source, config = _analyse(text, path)
    entries = config.entries
    keys = [item[0] for item in config.items]
    quote = _quote(source, keys)
    notes = []
    edits = []

    if "mode" in entries:
        _, mode_value, mode_node = entries["mode"]
        if _string(mode_node) != "wsgi":
            begin, end = source.span(mode_value)
            value_quote = _quote(source, [mode_value] + keys)
            edits.append((begin, end, "{}wsgi{}".format(value_quote, value_quote)))
    else:
        edits.append(_insert_entry(source, config, "{}mode{}: {}wsgi{}".format(quote, quote, quote, quote)))

    setting = "{0}DJANGO_SETTINGS_MODULE{0}: {0}{1}{0}".format(quote, settings_module)
    if "environment" in entries:
        _, env_value, env_node = entries["environment"]
        if not isinstance(env_node, ast.Dict):
            raise ConfigError("{}:{}: 'environment' is not a literal dict".format(path, env_node.lineno))
        env = _Dict(source, env_node, env_value[0], path)
        if "DJANGO_SETTINGS_MODULE" in env.entries:
            _, current_value, current = env.entries["DJANGO_SETTINGS_MODULE"]
            if _string(current) != settings_module:
                begin, end = source.span(current_value)
                notes.append("environment DJANGO_SETTINGS_MODULE is {}, not '{}': kept".format(text[begin:end], settings_module))
        else:
            edits.append(_insert_entry(source, env, setting))
    else:
        edits.append(_insert_entry(source, config, "{0}environment{0}: {{{1}}}".format(quote, setting)))

    if "args" in entries:
        _, args_value, args_node = entries["args"]
        if not isinstance(args_node, (ast.List, ast.Tuple)) or source.tokens[args_value[0]][1] not in ("(", "["):
            raise ConfigError("{}:{}: 'args' is not a literal list or tuple".format(path, args_node.lineno))
        element_items = [item[0] for item in source.display(args_value[0])[0]]
        args_quote = _quote(source, element_items + keys)
        edits.extend(_args_edits(source, args_node, args_value[0], wsgi_app, args_quote))
    else:
        edits.append(_insert_entry(source, config, "{0}args{0}: ({0}{1}{0},)".format(quote, wsgi_app)))

    new_text = text
    for begin, end, replacement in sorted(edits, reverse=True):
        new_text = new_text[:begin] + replacement + new_text[end:]
    if new_text != text:
        _verify(new_text, path, wsgi_app)
    log.info(
        "gunicorn_wsgi: %s: %s", path, "{} edits to reach wsgi mode".format(len(edits)) if new_text != text else "already in wsgi mode"
    )
    return {"text": new_text, "changed": new_text != text, "notes": notes}


def _verify(new_text, path, wsgi_app):
    """Refuse to hand back an edit that did not reach the wanted shape."""
    try:
        _, config = _analyse(new_text, path)
    except ConfigError as exc:
        raise ConfigError("{}: internal error, the edit broke the file: {}".format(path, exc))
    entries = config.entries
    args_node = entries["args"][2] if "args" in entries else None
    args = [_string(e) for e in args_node.elts] if isinstance(args_node, (ast.List, ast.Tuple)) else [None]
    mode_node = entries["mode"][2] if "mode" in entries else None
    if mode_node is None or _string(mode_node) != "wsgi" or args.count(wsgi_app) != 1 or args[-1] != wsgi_app:
        raise ConfigError("{}: internal error, the edit did not reach wsgi mode".format(path))


def mode(path):
    """
    Return the ``mode`` a gunicorn config file sets (``None`` when it sets none).

    CLI Example:

    .. code-block:: bash

        salt '*' gunicorn_wsgi.mode /etc/gunicorn.d/synnefo
    """
    text = __salt__["synnefo_files.read"](path)
    if text is None:
        raise ConfigError("{}: no such file".format(path))
    source, config = _analyse(text, path)
    entry = config.entries.get("mode")
    if entry is None:
        return None
    value = _string(entry[2])
    if value is not None:
        return value
    begin, end = source.span(entry[1])
    return text[begin:end]


def bind(path):
    """
    Return the address a gunicorn config binds (``--bind=ADDRESS``, ``--bind ADDRESS`` or
    ``-b ADDRESS`` in ``args``), or ``None`` when it sets none.

    CLI Example:

    .. code-block:: bash

        salt '*' gunicorn_wsgi.bind /etc/gunicorn.d/synnefo
    """
    text = __salt__["synnefo_files.read"](path)
    if text is None:
        raise ConfigError("{}: no such file".format(path))
    config = _find_config(_parse(text, path), path).value
    args = []
    for key, value in zip(config.keys, config.values):
        if key is not None and _string(key) == "args":
            if not isinstance(value, (ast.List, ast.Tuple)):
                raise ConfigError("{}:{}: 'args' is not a literal list or tuple".format(path, value.lineno))
            args = [_string(element) for element in value.elts]
    if None in args:
        raise ConfigError("{}: 'args' has an item that is not a literal string: the bind address cannot be read".format(path))
    for index, arg in enumerate(args):
        if arg.startswith("--bind="):
            return arg.split("=", 1)[1]
        if arg in ("--bind", "-b") and index + 1 < len(args):
            return args[index + 1]
    return None


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
    try:
        names = sorted(os.listdir(config_dir))
    except OSError as exc:
        raise ConfigError("{}: {}".format(config_dir, exc.strerror))
    for name in names:
        path = os.path.join(config_dir, name)
        if name.startswith(".") or name.endswith(IGNORED_SUFFIXES) or not os.path.isfile(path):
            continue
        try:
            current = mode(path)
        except CommandExecutionError as exc:
            found[path] = "unreadable: {}".format(exc)
            continue
        if current == "django":
            found[path] = current
    return found
