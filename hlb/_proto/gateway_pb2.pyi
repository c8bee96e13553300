import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from hlb._proto import caps_pb2 as _caps_pb2
from hlb._proto import fsutil_stat_pb2 as _fsutil_stat_pb2
from hlb._proto import ops_pb2 as _ops_pb2
from hlb._proto import policy_pb2 as _policy_pb2
from hlb._proto import status_pb2 as _status_pb2
from hlb._proto import worker_pb2 as _worker_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AttestationKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    InToto: _ClassVar[AttestationKind]
    Bundle: _ClassVar[AttestationKind]

class InTotoSubjectKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    Self: _ClassVar[InTotoSubjectKind]
    Raw: _ClassVar[InTotoSubjectKind]
InToto: AttestationKind
Bundle: AttestationKind
Self: InTotoSubjectKind
Raw: InTotoSubjectKind

class Result(_message.Message):
    __slots__ = ("refDeprecated", "refsDeprecated", "ref", "refs", "metadata", "attestations")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    class AttestationsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Attestations
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Attestations, _Mapping]] = ...) -> None: ...
    REFDEPRECATED_FIELD_NUMBER: _ClassVar[int]
    REFSDEPRECATED_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    REFS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    ATTESTATIONS_FIELD_NUMBER: _ClassVar[int]
    refDeprecated: str
    refsDeprecated: RefMapDeprecated
    ref: Ref
    refs: RefMap
    metadata: _containers.ScalarMap[str, bytes]
    attestations: _containers.MessageMap[str, Attestations]
    def __init__(self, refDeprecated: _Optional[str] = ..., refsDeprecated: _Optional[_Union[RefMapDeprecated, _Mapping]] = ..., ref: _Optional[_Union[Ref, _Mapping]] = ..., refs: _Optional[_Union[RefMap, _Mapping]] = ..., metadata: _Optional[_Mapping[str, bytes]] = ..., attestations: _Optional[_Mapping[str, Attestations]] = ...) -> None: ...

class RefMapDeprecated(_message.Message):
    __slots__ = ("refs",)
    class RefsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REFS_FIELD_NUMBER: _ClassVar[int]
    refs: _containers.ScalarMap[str, str]
    def __init__(self, refs: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Ref(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    DEF_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ..., **kwargs) -> None: ...

class RefMap(_message.Message):
    __slots__ = ("refs",)
    class RefsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Ref
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Ref, _Mapping]] = ...) -> None: ...
    REFS_FIELD_NUMBER: _ClassVar[int]
    refs: _containers.MessageMap[str, Ref]
    def __init__(self, refs: _Optional[_Mapping[str, Ref]] = ...) -> None: ...

class Attestations(_message.Message):
    __slots__ = ("attestation",)
    ATTESTATION_FIELD_NUMBER: _ClassVar[int]
    attestation: _containers.RepeatedCompositeFieldContainer[Attestation]
    def __init__(self, attestation: _Optional[_Iterable[_Union[Attestation, _Mapping]]] = ...) -> None: ...

class Attestation(_message.Message):
    __slots__ = ("kind", "metadata", "ref", "path", "inTotoPredicateType", "inTotoSubjects")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    INTOTOPREDICATETYPE_FIELD_NUMBER: _ClassVar[int]
    INTOTOSUBJECTS_FIELD_NUMBER: _ClassVar[int]
    kind: AttestationKind
    metadata: _containers.ScalarMap[str, bytes]
    ref: Ref
    path: str
    inTotoPredicateType: str
    inTotoSubjects: _containers.RepeatedCompositeFieldContainer[InTotoSubject]
    def __init__(self, kind: _Optional[_Union[AttestationKind, str]] = ..., metadata: _Optional[_Mapping[str, bytes]] = ..., ref: _Optional[_Union[Ref, _Mapping]] = ..., path: _Optional[str] = ..., inTotoPredicateType: _Optional[str] = ..., inTotoSubjects: _Optional[_Iterable[_Union[InTotoSubject, _Mapping]]] = ...) -> None: ...

class InTotoSubject(_message.Message):
    __slots__ = ("kind", "digest", "name")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    kind: InTotoSubjectKind
    digest: _containers.RepeatedScalarFieldContainer[str]
    name: str
    def __init__(self, kind: _Optional[_Union[InTotoSubjectKind, str]] = ..., digest: _Optional[_Iterable[str]] = ..., name: _Optional[str] = ...) -> None: ...

class ReturnRequest(_message.Message):
    __slots__ = ("result", "error")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    result: Result
    error: _status_pb2.Status
    def __init__(self, result: _Optional[_Union[Result, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class ReturnResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InputsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InputsResponse(_message.Message):
    __slots__ = ("Definitions",)
    class DefinitionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _ops_pb2.Definition
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_ops_pb2.Definition, _Mapping]] = ...) -> None: ...
    DEFINITIONS_FIELD_NUMBER: _ClassVar[int]
    Definitions: _containers.MessageMap[str, _ops_pb2.Definition]
    def __init__(self, Definitions: _Optional[_Mapping[str, _ops_pb2.Definition]] = ...) -> None: ...

class ResolveImageConfigRequest(_message.Message):
    __slots__ = ("Ref", "Platform", "ResolveMode", "LogName", "ResolverType", "SessionID", "StoreID", "SourcePolicies")
    REF_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    RESOLVEMODE_FIELD_NUMBER: _ClassVar[int]
    LOGNAME_FIELD_NUMBER: _ClassVar[int]
    RESOLVERTYPE_FIELD_NUMBER: _ClassVar[int]
    SESSIONID_FIELD_NUMBER: _ClassVar[int]
    STOREID_FIELD_NUMBER: _ClassVar[int]
    SOURCEPOLICIES_FIELD_NUMBER: _ClassVar[int]
    Ref: str
    Platform: _ops_pb2.Platform
    ResolveMode: str
    LogName: str
    ResolverType: int
    SessionID: str
    StoreID: str
    SourcePolicies: _containers.RepeatedCompositeFieldContainer[_policy_pb2.Policy]
    def __init__(self, Ref: _Optional[str] = ..., Platform: _Optional[_Union[_ops_pb2.Platform, _Mapping]] = ..., ResolveMode: _Optional[str] = ..., LogName: _Optional[str] = ..., ResolverType: _Optional[int] = ..., SessionID: _Optional[str] = ..., StoreID: _Optional[str] = ..., SourcePolicies: _Optional[_Iterable[_Union[_policy_pb2.Policy, _Mapping]]] = ...) -> None: ...

class ResolveImageConfigResponse(_message.Message):
    __slots__ = ("Digest", "Config", "Ref")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    Digest: str
    Config: bytes
    Ref: str
    def __init__(self, Digest: _Optional[str] = ..., Config: _Optional[bytes] = ..., Ref: _Optional[str] = ...) -> None: ...

class ResolveSourceMetaRequest(_message.Message):
    __slots__ = ("Source", "Platform", "LogName", "ResolveMode", "Git", "Image", "HTTP", "SourcePolicies")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    LOGNAME_FIELD_NUMBER: _ClassVar[int]
    RESOLVEMODE_FIELD_NUMBER: _ClassVar[int]
    GIT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    HTTP_FIELD_NUMBER: _ClassVar[int]
    SOURCEPOLICIES_FIELD_NUMBER: _ClassVar[int]
    Source: _ops_pb2.SourceOp
    Platform: _ops_pb2.Platform
    LogName: str
    ResolveMode: str
    Git: ResolveSourceGitRequest
    Image: ResolveSourceImageRequest
    HTTP: ResolveSourceHTTPRequest
    SourcePolicies: _containers.RepeatedCompositeFieldContainer[_policy_pb2.Policy]
    def __init__(self, Source: _Optional[_Union[_ops_pb2.SourceOp, _Mapping]] = ..., Platform: _Optional[_Union[_ops_pb2.Platform, _Mapping]] = ..., LogName: _Optional[str] = ..., ResolveMode: _Optional[str] = ..., Git: _Optional[_Union[ResolveSourceGitRequest, _Mapping]] = ..., Image: _Optional[_Union[ResolveSourceImageRequest, _Mapping]] = ..., HTTP: _Optional[_Union[ResolveSourceHTTPRequest, _Mapping]] = ..., SourcePolicies: _Optional[_Iterable[_Union[_policy_pb2.Policy, _Mapping]]] = ...) -> None: ...

class ResolveSourceMetaResponse(_message.Message):
    __slots__ = ("Source", "Image", "Git", "HTTP")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    GIT_FIELD_NUMBER: _ClassVar[int]
    HTTP_FIELD_NUMBER: _ClassVar[int]
    Source: _ops_pb2.SourceOp
    Image: ResolveSourceImageResponse
    Git: ResolveSourceGitResponse
    HTTP: ResolveSourceHTTPResponse
    def __init__(self, Source: _Optional[_Union[_ops_pb2.SourceOp, _Mapping]] = ..., Image: _Optional[_Union[ResolveSourceImageResponse, _Mapping]] = ..., Git: _Optional[_Union[ResolveSourceGitResponse, _Mapping]] = ..., HTTP: _Optional[_Union[ResolveSourceHTTPResponse, _Mapping]] = ...) -> None: ...

class ResolveSourceImageRequest(_message.Message):
    __slots__ = ("NoConfig", "AttestationChain", "ResolveAttestations")
    NOCONFIG_FIELD_NUMBER: _ClassVar[int]
    ATTESTATIONCHAIN_FIELD_NUMBER: _ClassVar[int]
    RESOLVEATTESTATIONS_FIELD_NUMBER: _ClassVar[int]
    NoConfig: bool
    AttestationChain: bool
    ResolveAttestations: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, NoConfig: _Optional[bool] = ..., AttestationChain: _Optional[bool] = ..., ResolveAttestations: _Optional[_Iterable[str]] = ...) -> None: ...

class ResolveSourceImageResponse(_message.Message):
    __slots__ = ("Digest", "Config", "AttestationChain")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    ATTESTATIONCHAIN_FIELD_NUMBER: _ClassVar[int]
    Digest: str
    Config: bytes
    AttestationChain: AttestationChain
    def __init__(self, Digest: _Optional[str] = ..., Config: _Optional[bytes] = ..., AttestationChain: _Optional[_Union[AttestationChain, _Mapping]] = ...) -> None: ...

class AttestationChain(_message.Message):
    __slots__ = ("Root", "ImageManifest", "AttestationManifest", "SignatureManifests", "Blobs")
    class BlobsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Blob
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Blob, _Mapping]] = ...) -> None: ...
    ROOT_FIELD_NUMBER: _ClassVar[int]
    IMAGEMANIFEST_FIELD_NUMBER: _ClassVar[int]
    ATTESTATIONMANIFEST_FIELD_NUMBER: _ClassVar[int]
    SIGNATUREMANIFESTS_FIELD_NUMBER: _ClassVar[int]
    BLOBS_FIELD_NUMBER: _ClassVar[int]
    Root: str
    ImageManifest: str
    AttestationManifest: str
    SignatureManifests: _containers.RepeatedScalarFieldContainer[str]
    Blobs: _containers.MessageMap[str, Blob]
    def __init__(self, Root: _Optional[str] = ..., ImageManifest: _Optional[str] = ..., AttestationManifest: _Optional[str] = ..., SignatureManifests: _Optional[_Iterable[str]] = ..., Blobs: _Optional[_Mapping[str, Blob]] = ...) -> None: ...

class Blob(_message.Message):
    __slots__ = ("descriptor", "data")
    DESCRIPTOR_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    descriptor: Descriptor
    data: bytes
    def __init__(self, descriptor: _Optional[_Union[Descriptor, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class Descriptor(_message.Message):
    __slots__ = ("media_type", "digest", "size", "annotations")
    class AnnotationsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    media_type: str
    digest: str
    size: int
    annotations: _containers.ScalarMap[str, str]
    def __init__(self, media_type: _Optional[str] = ..., digest: _Optional[str] = ..., size: _Optional[int] = ..., annotations: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ResolveSourceGitRequest(_message.Message):
    __slots__ = ("ReturnObject",)
    RETURNOBJECT_FIELD_NUMBER: _ClassVar[int]
    ReturnObject: bool
    def __init__(self, ReturnObject: _Optional[bool] = ...) -> None: ...

class ResolveSourceGitResponse(_message.Message):
    __slots__ = ("Checksum", "Ref", "CommitChecksum", "CommitObject", "TagObject")
    CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    COMMITCHECKSUM_FIELD_NUMBER: _ClassVar[int]
    COMMITOBJECT_FIELD_NUMBER: _ClassVar[int]
    TAGOBJECT_FIELD_NUMBER: _ClassVar[int]
    Checksum: str
    Ref: str
    CommitChecksum: str
    CommitObject: bytes
    TagObject: bytes
    def __init__(self, Checksum: _Optional[str] = ..., Ref: _Optional[str] = ..., CommitChecksum: _Optional[str] = ..., CommitObject: _Optional[bytes] = ..., TagObject: _Optional[bytes] = ...) -> None: ...

class ResolveSourceHTTPRequest(_message.Message):
    __slots__ = ("ChecksumRequest",)
    CHECKSUMREQUEST_FIELD_NUMBER: _ClassVar[int]
    ChecksumRequest: ChecksumRequest
    def __init__(self, ChecksumRequest: _Optional[_Union[ChecksumRequest, _Mapping]] = ...) -> None: ...

class ResolveSourceHTTPResponse(_message.Message):
    __slots__ = ("Checksum", "Filename", "LastModified", "ChecksumResponse")
    CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    LASTMODIFIED_FIELD_NUMBER: _ClassVar[int]
    CHECKSUMRESPONSE_FIELD_NUMBER: _ClassVar[int]
    Checksum: str
    Filename: str
    LastModified: _timestamp_pb2.Timestamp
    ChecksumResponse: ChecksumResponse
    def __init__(self, Checksum: _Optional[str] = ..., Filename: _Optional[str] = ..., LastModified: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ChecksumResponse: _Optional[_Union[ChecksumResponse, _Mapping]] = ...) -> None: ...

class ChecksumRequest(_message.Message):
    __slots__ = ("Algo", "Suffix")
    class ChecksumAlgo(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CHECKSUM_ALGO_SHA256: _ClassVar[ChecksumRequest.ChecksumAlgo]
        CHECKSUM_ALGO_SHA384: _ClassVar[ChecksumRequest.ChecksumAlgo]
        CHECKSUM_ALGO_SHA512: _ClassVar[ChecksumRequest.ChecksumAlgo]
    CHECKSUM_ALGO_SHA256: ChecksumRequest.ChecksumAlgo
    CHECKSUM_ALGO_SHA384: ChecksumRequest.ChecksumAlgo
    CHECKSUM_ALGO_SHA512: ChecksumRequest.ChecksumAlgo
    ALGO_FIELD_NUMBER: _ClassVar[int]
    SUFFIX_FIELD_NUMBER: _ClassVar[int]
    Algo: ChecksumRequest.ChecksumAlgo
    Suffix: bytes
    def __init__(self, Algo: _Optional[_Union[ChecksumRequest.ChecksumAlgo, str]] = ..., Suffix: _Optional[bytes] = ...) -> None: ...

class ChecksumResponse(_message.Message):
    __slots__ = ("Digest", "Suffix")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SUFFIX_FIELD_NUMBER: _ClassVar[int]
    Digest: str
    Suffix: bytes
    def __init__(self, Digest: _Optional[str] = ..., Suffix: _Optional[bytes] = ...) -> None: ...

class SolveRequest(_message.Message):
    __slots__ = ("Definition", "Frontend", "FrontendOpt", "allowResultReturn", "allowResultArrayRef", "Final", "ExporterAttr", "CacheImports", "FrontendInputs", "Evaluate", "SourcePolicies")
    class FrontendOptEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class FrontendInputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _ops_pb2.Definition
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_ops_pb2.Definition, _Mapping]] = ...) -> None: ...
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    FRONTEND_FIELD_NUMBER: _ClassVar[int]
    FRONTENDOPT_FIELD_NUMBER: _ClassVar[int]
    ALLOWRESULTRETURN_FIELD_NUMBER: _ClassVar[int]
    ALLOWRESULTARRAYREF_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    EXPORTERATTR_FIELD_NUMBER: _ClassVar[int]
    CACHEIMPORTS_FIELD_NUMBER: _ClassVar[int]
    FRONTENDINPUTS_FIELD_NUMBER: _ClassVar[int]
    EVALUATE_FIELD_NUMBER: _ClassVar[int]
    SOURCEPOLICIES_FIELD_NUMBER: _ClassVar[int]
    Definition: _ops_pb2.Definition
    Frontend: str
    FrontendOpt: _containers.ScalarMap[str, str]
    allowResultReturn: bool
    allowResultArrayRef: bool
    Final: bool
    ExporterAttr: bytes
    CacheImports: _containers.RepeatedCompositeFieldContainer[CacheOptionsEntry]
    FrontendInputs: _containers.MessageMap[str, _ops_pb2.Definition]
    Evaluate: bool
    SourcePolicies: _containers.RepeatedCompositeFieldContainer[_policy_pb2.Policy]
    def __init__(self, Definition: _Optional[_Union[_ops_pb2.Definition, _Mapping]] = ..., Frontend: _Optional[str] = ..., FrontendOpt: _Optional[_Mapping[str, str]] = ..., allowResultReturn: _Optional[bool] = ..., allowResultArrayRef: _Optional[bool] = ..., Final: _Optional[bool] = ..., ExporterAttr: _Optional[bytes] = ..., CacheImports: _Optional[_Iterable[_Union[CacheOptionsEntry, _Mapping]]] = ..., FrontendInputs: _Optional[_Mapping[str, _ops_pb2.Definition]] = ..., Evaluate: _Optional[bool] = ..., SourcePolicies: _Optional[_Iterable[_Union[_policy_pb2.Policy, _Mapping]]] = ...) -> None: ...

class CacheOptionsEntry(_message.Message):
    __slots__ = ("Type", "Attrs")
    class AttrsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    Type: str
    Attrs: _containers.ScalarMap[str, str]
    def __init__(self, Type: _Optional[str] = ..., Attrs: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SolveResponse(_message.Message):
    __slots__ = ("ref", "result")
    REF_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ref: str
    result: Result
    def __init__(self, ref: _Optional[str] = ..., result: _Optional[_Union[Result, _Mapping]] = ...) -> None: ...

class ReadFileRequest(_message.Message):
    __slots__ = ("Ref", "FilePath", "Range", "MountIndex")
    REF_FIELD_NUMBER: _ClassVar[int]
    FILEPATH_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    MOUNTINDEX_FIELD_NUMBER: _ClassVar[int]
    Ref: str
    FilePath: str
    Range: FileRange
    MountIndex: int
    def __init__(self, Ref: _Optional[str] = ..., FilePath: _Optional[str] = ..., Range: _Optional[_Union[FileRange, _Mapping]] = ..., MountIndex: _Optional[int] = ...) -> None: ...

class FileRange(_message.Message):
    __slots__ = ("Offset", "Length")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    Offset: int
    Length: int
    def __init__(self, Offset: _Optional[int] = ..., Length: _Optional[int] = ...) -> None: ...

class ReadFileResponse(_message.Message):
    __slots__ = ("Data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    Data: bytes
    def __init__(self, Data: _Optional[bytes] = ...) -> None: ...

class ReadDirRequest(_message.Message):
    __slots__ = ("Ref", "DirPath", "IncludePattern", "MountIndex")
    REF_FIELD_NUMBER: _ClassVar[int]
    DIRPATH_FIELD_NUMBER: _ClassVar[int]
    INCLUDEPATTERN_FIELD_NUMBER: _ClassVar[int]
    MOUNTINDEX_FIELD_NUMBER: _ClassVar[int]
    Ref: str
    DirPath: str
    IncludePattern: str
    MountIndex: int
    def __init__(self, Ref: _Optional[str] = ..., DirPath: _Optional[str] = ..., IncludePattern: _Optional[str] = ..., MountIndex: _Optional[int] = ...) -> None: ...

class ReadDirResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[_fsutil_stat_pb2.Stat]
    def __init__(self, entries: _Optional[_Iterable[_Union[_fsutil_stat_pb2.Stat, _Mapping]]] = ...) -> None: ...

class StatFileRequest(_message.Message):
    __slots__ = ("Ref", "Path", "MountIndex")
    REF_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    MOUNTINDEX_FIELD_NUMBER: _ClassVar[int]
    Ref: str
    Path: str
    MountIndex: int
    def __init__(self, Ref: _Optional[str] = ..., Path: _Optional[str] = ..., MountIndex: _Optional[int] = ...) -> None: ...

class StatFileResponse(_message.Message):
    __slots__ = ("stat",)
    STAT_FIELD_NUMBER: _ClassVar[int]
    stat: _fsutil_stat_pb2.Stat
    def __init__(self, stat: _Optional[_Union[_fsutil_stat_pb2.Stat, _Mapping]] = ...) -> None: ...

class EvaluateRequest(_message.Message):
    __slots__ = ("Ref",)
    REF_FIELD_NUMBER: _ClassVar[int]
    Ref: str
    def __init__(self, Ref: _Optional[str] = ...) -> None: ...

class EvaluateResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PingRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PongResponse(_message.Message):
    __slots__ = ("FrontendAPICaps", "LLBCaps", "Workers")
    FRONTENDAPICAPS_FIELD_NUMBER: _ClassVar[int]
    LLBCAPS_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    FrontendAPICaps: _containers.RepeatedCompositeFieldContainer[_caps_pb2.APICap]
    LLBCaps: _containers.RepeatedCompositeFieldContainer[_caps_pb2.APICap]
    Workers: _containers.RepeatedCompositeFieldContainer[_worker_pb2.WorkerRecord]
    def __init__(self, FrontendAPICaps: _Optional[_Iterable[_Union[_caps_pb2.APICap, _Mapping]]] = ..., LLBCaps: _Optional[_Iterable[_Union[_caps_pb2.APICap, _Mapping]]] = ..., Workers: _Optional[_Iterable[_Union[_worker_pb2.WorkerRecord, _Mapping]]] = ...) -> None: ...

class WarnRequest(_message.Message):
    __slots__ = ("digest", "level", "short", "detail", "url", "info", "ranges")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    SHORT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    RANGES_FIELD_NUMBER: _ClassVar[int]
    digest: str
    level: int
    short: bytes
    detail: _containers.RepeatedScalarFieldContainer[bytes]
    url: str
    info: _ops_pb2.SourceInfo
    ranges: _containers.RepeatedCompositeFieldContainer[_ops_pb2.Range]
    def __init__(self, digest: _Optional[str] = ..., level: _Optional[int] = ..., short: _Optional[bytes] = ..., detail: _Optional[_Iterable[bytes]] = ..., url: _Optional[str] = ..., info: _Optional[_Union[_ops_pb2.SourceInfo, _Mapping]] = ..., ranges: _Optional[_Iterable[_Union[_ops_pb2.Range, _Mapping]]] = ...) -> None: ...

class WarnResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NewContainerRequest(_message.Message):
    __slots__ = ("ContainerID", "Mounts", "Network", "platform", "constraints", "extraHosts", "hostname")
    CONTAINERID_FIELD_NUMBER: _ClassVar[int]
    MOUNTS_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    CONSTRAINTS_FIELD_NUMBER: _ClassVar[int]
    EXTRAHOSTS_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    ContainerID: str
    Mounts: _containers.RepeatedCompositeFieldContainer[_ops_pb2.Mount]
    Network: _ops_pb2.NetMode
    platform: _ops_pb2.Platform
    constraints: _ops_pb2.WorkerConstraints
    extraHosts: _containers.RepeatedCompositeFieldContainer[_ops_pb2.HostIP]
    hostname: str
    def __init__(self, ContainerID: _Optional[str] = ..., Mounts: _Optional[_Iterable[_Union[_ops_pb2.Mount, _Mapping]]] = ..., Network: _Optional[_Union[_ops_pb2.NetMode, str]] = ..., platform: _Optional[_Union[_ops_pb2.Platform, _Mapping]] = ..., constraints: _Optional[_Union[_ops_pb2.WorkerConstraints, _Mapping]] = ..., extraHosts: _Optional[_Iterable[_Union[_ops_pb2.HostIP, _Mapping]]] = ..., hostname: _Optional[str] = ...) -> None: ...

class NewContainerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReleaseContainerRequest(_message.Message):
    __slots__ = ("ContainerID",)
    CONTAINERID_FIELD_NUMBER: _ClassVar[int]
    ContainerID: str
    def __init__(self, ContainerID: _Optional[str] = ...) -> None: ...

class ReleaseContainerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExecMessage(_message.Message):
    __slots__ = ("ProcessID", "Init", "File", "Resize", "Started", "Exit", "Done", "Signal")
    PROCESSID_FIELD_NUMBER: _ClassVar[int]
    INIT_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    RESIZE_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    EXIT_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    ProcessID: str
    Init: InitMessage
    File: FdMessage
    Resize: ResizeMessage
    Started: StartedMessage
    Exit: ExitMessage
    Done: DoneMessage
    Signal: SignalMessage
    def __init__(self, ProcessID: _Optional[str] = ..., Init: _Optional[_Union[InitMessage, _Mapping]] = ..., File: _Optional[_Union[FdMessage, _Mapping]] = ..., Resize: _Optional[_Union[ResizeMessage, _Mapping]] = ..., Started: _Optional[_Union[StartedMessage, _Mapping]] = ..., Exit: _Optional[_Union[ExitMessage, _Mapping]] = ..., Done: _Optional[_Union[DoneMessage, _Mapping]] = ..., Signal: _Optional[_Union[SignalMessage, _Mapping]] = ...) -> None: ...

class InitMessage(_message.Message):
    __slots__ = ("ContainerID", "Meta", "Fds", "Tty", "Security", "secretenv")
    CONTAINERID_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    FDS_FIELD_NUMBER: _ClassVar[int]
    TTY_FIELD_NUMBER: _ClassVar[int]
    SECURITY_FIELD_NUMBER: _ClassVar[int]
    SECRETENV_FIELD_NUMBER: _ClassVar[int]
    ContainerID: str
    Meta: _ops_pb2.Meta
    Fds: _containers.RepeatedScalarFieldContainer[int]
    Tty: bool
    Security: _ops_pb2.SecurityMode
    secretenv: _containers.RepeatedCompositeFieldContainer[_ops_pb2.SecretEnv]
    def __init__(self, ContainerID: _Optional[str] = ..., Meta: _Optional[_Union[_ops_pb2.Meta, _Mapping]] = ..., Fds: _Optional[_Iterable[int]] = ..., Tty: _Optional[bool] = ..., Security: _Optional[_Union[_ops_pb2.SecurityMode, str]] = ..., secretenv: _Optional[_Iterable[_Union[_ops_pb2.SecretEnv, _Mapping]]] = ...) -> None: ...

class ExitMessage(_message.Message):
    __slots__ = ("Code", "Error")
    CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    Code: int
    Error: _status_pb2.Status
    def __init__(self, Code: _Optional[int] = ..., Error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class StartedMessage(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DoneMessage(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FdMessage(_message.Message):
    __slots__ = ("Fd", "EOF", "Data")
    FD_FIELD_NUMBER: _ClassVar[int]
    EOF_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    Fd: int
    EOF: bool
    Data: bytes
    def __init__(self, Fd: _Optional[int] = ..., EOF: _Optional[bool] = ..., Data: _Optional[bytes] = ...) -> None: ...

class ResizeMessage(_message.Message):
    __slots__ = ("Rows", "Cols")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLS_FIELD_NUMBER: _ClassVar[int]
    Rows: int
    Cols: int
    def __init__(self, Rows: _Optional[int] = ..., Cols: _Optional[int] = ...) -> None: ...

class SignalMessage(_message.Message):
    __slots__ = ("Name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    Name: str
    def __init__(self, Name: _Optional[str] = ...) -> None: ...
