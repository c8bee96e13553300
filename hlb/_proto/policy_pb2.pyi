from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PolicyAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALLOW: _ClassVar[PolicyAction]
    DENY: _ClassVar[PolicyAction]
    CONVERT: _ClassVar[PolicyAction]

class AttrMatch(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EQUAL: _ClassVar[AttrMatch]
    NOTEQUAL: _ClassVar[AttrMatch]
    MATCHES: _ClassVar[AttrMatch]

class MatchType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WILDCARD: _ClassVar[MatchType]
    EXACT: _ClassVar[MatchType]
    REGEX: _ClassVar[MatchType]
ALLOW: PolicyAction
DENY: PolicyAction
CONVERT: PolicyAction
EQUAL: AttrMatch
NOTEQUAL: AttrMatch
MATCHES: AttrMatch
WILDCARD: MatchType
EXACT: MatchType
REGEX: MatchType

class Policy(_message.Message):
    __slots__ = ("version", "rules")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    version: int
    rules: _containers.RepeatedCompositeFieldContainer[Rule]
    def __init__(self, version: _Optional[int] = ..., rules: _Optional[_Iterable[_Union[Rule, _Mapping]]] = ...) -> None: ...

class Rule(_message.Message):
    __slots__ = ("action", "selector", "updates")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    action: PolicyAction
    selector: Selector
    updates: Update
    def __init__(self, action: _Optional[_Union[PolicyAction, str]] = ..., selector: _Optional[_Union[Selector, _Mapping]] = ..., updates: _Optional[_Union[Update, _Mapping]] = ...) -> None: ...

class Selector(_message.Message):
    __slots__ = ("identifier", "match_type", "constraints")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    MATCH_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONSTRAINTS_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    match_type: MatchType
    constraints: _containers.RepeatedCompositeFieldContainer[AttrConstraint]
    def __init__(self, identifier: _Optional[str] = ..., match_type: _Optional[_Union[MatchType, str]] = ..., constraints: _Optional[_Iterable[_Union[AttrConstraint, _Mapping]]] = ...) -> None: ...

class Update(_message.Message):
    __slots__ = ("identifier", "attrs")
    class AttrsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    attrs: _containers.ScalarMap[str, str]
    def __init__(self, identifier: _Optional[str] = ..., attrs: _Optional[_Mapping[str, str]] = ...) -> None: ...

class AttrConstraint(_message.Message):
    __slots__ = ("key", "value", "condition")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    condition: AttrMatch
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ..., condition: _Optional[_Union[AttrMatch, str]] = ...) -> None: ...
