# -*- coding: utf-8 -*-
"""
The names Synnefo imports from ``archipelago.common`` (grnet/synnefo
snf-pithos-backend/pithos/backends/modular.py, lib/hashfiler/archipelagomapper.py,
archipelagoblocker.py, context_archipelago.py and pithos/workers/monkey.py, at 0.18.1 and 0.19).

Real Archipelago reaches its block store through xseg's ctypes bindings (generated with
gccxml, which Debian 12 lacks): it cannot run here. Creating a segment or a context does
nothing, as Synnefo creates them when its backend loads; every request (the I/O) fails with
ArchipelagoError, so object data is never faked. Python 2.7 code: it runs in Synnefo's
environment.
"""

XF_ASSUMEV0 = 1 << 0
XF_MAPFLAG_READONLY = 1 << 1


class ArchipelagoError(EnvironmentError):
    pass


def _unavailable(what):
    raise ArchipelagoError("Archipelago is not available in the test bed: %s needs its block store" % what)


class Segment(object):
    def __init__(self, *args, **kwargs):
        self.args = args

    def join(self):
        return self


class Xseg_ctx(object):
    def __init__(self, segment, portno=None, *args, **kwargs):
        self.segment = segment
        self.portno = portno

    def shutdown(self):
        pass


class Request(object):
    def __init__(self, *args, **kwargs):
        _unavailable("an Archipelago request")


def _refused(what):
    return classmethod(lambda cls, *args, **kwargs: _unavailable(what))


# The request constructors Synnefo's mapper and blocker call, each a clear failure.
for _name, _what in (
    ("get_read_request", "reading a block"),
    ("get_write_request", "writing a block"),
    ("get_info_request", "a block's size"),
    ("get_mapr_request", "reading a map"),
    ("get_create_request", "creating a map"),
    ("get_hash_request", "hashing a block"),
    ("get_copy_request", "copying a block"),
):
    setattr(Request, _name, _refused(_what))


class xseg_reply_info(object):
    pass


class xseg_reply_map(object):
    pass


class xseg_reply_map_scatterlist(object):
    pass


class posixfd_signal_desc(object):
    pass


def string_at(*args, **kwargs):
    _unavailable("reading a reply")


def xseg_wait_signal_green(ctx, sd, timeout):
    _unavailable("waiting for a reply")
