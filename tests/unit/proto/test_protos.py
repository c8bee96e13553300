"""Tests for hlb's own BuildKit wire schema (protos/ -> hlb/_proto/).

1. every generated module imports, and every registered file lives under hlb/;
2. field numbers / scalar types / labels, oneofs, enums and service methods
   match BuildKit v0.32 (tables below, transcribed from BuildKit's own .proto
   files, i.e. independent of protos/);
3. the golden LLB from BuildKit's Go client (tests/data/llb-golden) parses and
   re-serializes byte-for-byte with the two-part recipe of
   docs buildkit-protocol.md §3.2, digests match, and whole Definitions can be
   reproduced with a protobuf-go-style encoder (map keys sorted bytewise);
4. ``scripts/gen_protos.py --check`` passes.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import json_format, unknown_fields
from google.protobuf.descriptor import FieldDescriptor

import hlb._proto
from hlb._proto import ops_pb2 as pb

REPO = Path(__file__).resolve().parents[3]
GOLDEN = REPO / "tests" / "data" / "llb-golden"

# Every module gen_protos.py must produce (a _pb2_grpc module only for files
# with a service).
PROTO_FILES = {
    "auth": True,
    "caps": False,
    "content": True,
    "control": True,
    "exporter": True,
    "filesync": True,
    "fsutil_stat": False,
    "fsutil_wire": False,
    "gateway": True,
    "health": True,
    "ops": False,
    "policy": False,
    "secrets": True,
    "ssh": True,
    "status": False,
    "upload": True,
    "worker": False,
}
EXPECTED_MODULES = sorted(
    [f"{name}_pb2" for name in PROTO_FILES]
    + [f"{name}_pb2_grpc" for name, has_service in PROTO_FILES.items() if has_service]
)


def _modules() -> dict[str, object]:
    return {name: importlib.import_module(f"hlb._proto.{name}") for name in EXPECTED_MODULES}


def _file_descriptors():
    return [m.DESCRIPTOR for name, m in _modules().items() if name.endswith("_pb2")]


def _all_messages():
    def walk(descs):
        for d in descs:
            if d.GetOptions().map_entry:
                continue
            yield d
            yield from walk(d.nested_types)

    for fd in _file_descriptors():
        yield from walk(fd.message_types_by_name.values())


def _all_enums():
    def walk(descs):
        for d in descs:
            yield from d.enum_types
            yield from walk(d.nested_types)

    for fd in _file_descriptors():
        yield from fd.enum_types_by_name.values()
        yield from walk(fd.message_types_by_name.values())


# --------------------------------------------------------------------------
# 1. imports


def test_every_generated_module_imports():
    found = sorted(m.name for m in pkgutil.iter_modules(hlb._proto.__path__))
    assert found == EXPECTED_MODULES
    for name, module in _modules().items():
        assert module.__name__ == f"hlb._proto.{name}"


def test_registered_file_names_are_namespaced_under_hlb():
    for fd in _file_descriptors():
        assert fd.name.startswith("hlb/_proto/"), fd.name
        for dep in fd.dependencies:
            assert dep.name.startswith(("hlb/_proto/", "google/protobuf/")), dep.name


def test_proto_sources_name_the_buildkit_version():
    sources = sorted((REPO / "protos" / "hlb" / "_proto").glob("*.proto"))
    assert sorted(p.stem for p in sources) == sorted(PROTO_FILES)
    for src in sources:
        head = src.read_text().split("syntax =", 1)[0]
        assert head.startswith("//"), src.name
        assert "BuildKit v0.32" in head or "buildkit v0.32" in head, src.name


# --------------------------------------------------------------------------
# 2. schema tables
#
# Message specs: "name=number:type" per field, in field-number order; "*" marks
# repeated; message/enum types are fully qualified; maps are map<K,V>.

_SCALAR = {
    FieldDescriptor.TYPE_DOUBLE: "double",
    FieldDescriptor.TYPE_FLOAT: "float",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_UINT64: "uint64",
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_FIXED64: "fixed64",
    FieldDescriptor.TYPE_FIXED32: "fixed32",
    FieldDescriptor.TYPE_BOOL: "bool",
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_UINT32: "uint32",
    FieldDescriptor.TYPE_SFIXED32: "sfixed32",
    FieldDescriptor.TYPE_SFIXED64: "sfixed64",
    FieldDescriptor.TYPE_SINT32: "sint32",
    FieldDescriptor.TYPE_SINT64: "sint64",
}


def _is_map(f) -> bool:
    return f.message_type is not None and f.message_type.GetOptions().map_entry


def _type_name(f) -> str:
    if f.type == FieldDescriptor.TYPE_MESSAGE:
        return f.message_type.full_name
    if f.type == FieldDescriptor.TYPE_ENUM:
        return f.enum_type.full_name
    return _SCALAR[f.type]


def _field_spec(f) -> str:
    if _is_map(f):
        k = f.message_type.fields_by_name["key"]
        v = f.message_type.fields_by_name["value"]
        t = f"map<{_type_name(k)},{_type_name(v)}>"
    else:
        t = ("*" if f.is_repeated else "") + _type_name(f)
    return f"{f.name}={f.number}:{t}"


def _message_spec(desc) -> str:
    return " ".join(_field_spec(f) for f in sorted(desc.fields, key=lambda f: f.number))


MESSAGES: dict[str, str] = {
    # -- hand-written from the gRPC / googleapis definitions (not in BuildKit's tree)
    "grpc.health.v1.HealthCheckRequest": "service=1:string",
    "grpc.health.v1.HealthCheckResponse": ("status=1:grpc.health.v1.HealthCheckResponse.ServingStatus"),
    "google.rpc.Status": "code=1:int32 message=2:string details=3:*google.protobuf.Any",
    # -- transcribed from BuildKit v0.32.2 (and its vendored fsutil / containerd)
    "pb.Op": (
        "inputs=1:*pb.Input exec=2:pb.ExecOp source=3:pb.SourceOp file=4:pb.FileOp "
        "build=5:pb.BuildOp merge=6:pb.MergeOp diff=7:pb.DiffOp "
        "passthrough=8:pb.PassthroughOp platform=10:pb.Platform "
        "constraints=11:pb.WorkerConstraints"
    ),
    "pb.Platform": ("Architecture=1:string OS=2:string Variant=3:string OSVersion=4:string OSFeatures=5:*string"),
    "pb.Input": "digest=1:string index=2:int64",
    "pb.ExecOp": (
        "meta=1:pb.Meta mounts=2:*pb.Mount network=3:pb.NetMode security=4:pb.SecurityMode "
        "secretenv=5:*pb.SecretEnv cdiDevices=6:*pb.CDIDevice"
    ),
    "pb.Meta": (
        "args=1:*string env=2:*string cwd=3:string user=4:string proxy_env=5:pb.ProxyEnv "
        "extraHosts=6:*pb.HostIP hostname=7:string ulimit=9:*pb.Ulimit "
        "cgroupParent=10:string removeMountStubsRecursive=11:bool validExitCodes=12:*int32"
    ),
    "pb.HostIP": "Host=1:string IP=2:string",
    "pb.Ulimit": "Name=1:string Soft=2:int64 Hard=3:int64",
    "pb.SecretEnv": "ID=1:string name=2:string optional=3:bool",
    "pb.CDIDevice": "name=1:string optional=2:bool",
    "pb.Mount": (
        "input=1:int64 selector=2:string dest=3:string output=4:int64 readonly=5:bool "
        "mountType=6:pb.MountType TmpfsOpt=19:pb.TmpfsOpt cacheOpt=20:pb.CacheOpt "
        "secretOpt=21:pb.SecretOpt SSHOpt=22:pb.SSHOpt resultID=23:string "
        "contentCache=24:pb.MountContentCache"
    ),
    "pb.TmpfsOpt": "size=1:int64",
    "pb.CacheOpt": "ID=1:string sharing=2:pb.CacheSharingOpt",
    "pb.SecretOpt": "ID=1:string uid=2:uint32 gid=3:uint32 mode=4:uint32 optional=5:bool",
    "pb.SSHOpt": "ID=1:string uid=2:uint32 gid=3:uint32 mode=4:uint32 optional=5:bool",
    "pb.SourceOp": "identifier=1:string attrs=2:map<string,string>",
    "pb.BuildOp": ("builder=1:int64 inputs=2:map<string,pb.BuildInput> def=3:pb.Definition attrs=4:map<string,string>"),
    "pb.BuildInput": "input=1:int64",
    "pb.OpMetadata": (
        "ignore_cache=1:bool description=2:map<string,string> export_cache=4:pb.ExportCache "
        "caps=5:map<string,bool> progress_group=6:pb.ProgressGroup "
        "linux_resources=7:pb.LinuxResources"
    ),
    "pb.Source": "locations=1:map<string,pb.Locations> infos=2:*pb.SourceInfo",
    "pb.Locations": "locations=1:*pb.Location",
    "pb.SourceInfo": ("filename=1:string data=2:bytes definition=3:pb.Definition language=4:string"),
    "pb.Location": "sourceIndex=1:int32 ranges=2:*pb.Range",
    "pb.Range": "start=1:pb.Position end=2:pb.Position",
    "pb.Position": "line=1:int32 character=2:int32",
    "pb.ExportCache": "Value=1:bool",
    "pb.ProgressGroup": "id=1:string name=2:string weak=3:bool",
    "pb.LinuxResources": (
        "memory=1:int64 memorySwap=2:int64 cpuShares=3:uint64 cpuPeriod=4:uint64 "
        "cpuQuota=5:int64 cpusetCpus=6:string cpusetMems=7:string"
    ),
    "pb.ProxyEnv": ("http_proxy=1:string https_proxy=2:string ftp_proxy=3:string no_proxy=4:string all_proxy=5:string"),
    "pb.WorkerConstraints": "filter=1:*string",
    "pb.Definition": "def=1:*bytes metadata=2:map<string,pb.OpMetadata> Source=3:pb.Source",
    "pb.FileOp": "actions=2:*pb.FileAction",
    "pb.FileAction": (
        "input=1:int64 secondaryInput=2:int64 output=3:int64 copy=4:pb.FileActionCopy "
        "mkfile=5:pb.FileActionMkFile mkdir=6:pb.FileActionMkDir rm=7:pb.FileActionRm "
        "symlink=8:pb.FileActionSymlink"
    ),
    "pb.FileActionCopy": (
        "src=1:string dest=2:string owner=3:pb.ChownOpt mode=4:int32 followSymlink=5:bool "
        "dirCopyContents=6:bool attemptUnpackDockerCompatibility=7:bool "
        "createDestPath=8:bool allowWildcard=9:bool allowEmptyWildcard=10:bool "
        "timestamp=11:int64 include_patterns=12:*string exclude_patterns=13:*string "
        "alwaysReplaceExistingDestPaths=14:bool modeStr=15:string required_paths=16:*string"
    ),
    "pb.FileActionMkFile": ("path=1:string mode=2:int32 data=3:bytes owner=4:pb.ChownOpt timestamp=5:int64"),
    "pb.FileActionSymlink": ("oldpath=1:string newpath=2:string owner=3:pb.ChownOpt timestamp=4:int64"),
    "pb.FileActionMkDir": ("path=1:string mode=2:int32 makeParents=3:bool owner=4:pb.ChownOpt timestamp=5:int64"),
    "pb.FileActionRm": "path=1:string allowNotFound=2:bool allowWildcard=3:bool",
    "pb.ChownOpt": "user=1:pb.UserOpt group=2:pb.UserOpt",
    "pb.UserOpt": "byName=1:pb.NamedUserOpt byID=2:uint32",
    "pb.NamedUserOpt": "name=1:string input=2:int64",
    "pb.MergeInput": "input=1:int64",
    "pb.MergeOp": "inputs=1:*pb.MergeInput",
    "pb.LowerDiffInput": "input=1:int64",
    "pb.UpperDiffInput": "input=1:int64",
    "pb.DiffOp": "lower=1:pb.LowerDiffInput upper=2:pb.UpperDiffInput",
    "pb.PassthroughOp": "id=1:string outputs=2:*int64",
    "moby.buildkit.v1.types.WorkerRecord": (
        "ID=1:string Labels=2:map<string,string> platforms=3:*pb.Platform "
        "GCPolicy=4:*moby.buildkit.v1.types.GCPolicy "
        "BuildkitVersion=5:moby.buildkit.v1.types.BuildkitVersion "
        "CDIDevices=6:*moby.buildkit.v1.types.CDIDevice"
    ),
    "moby.buildkit.v1.types.GCPolicy": (
        "all=1:bool keepDuration=2:int64 reservedSpace=3:int64 filters=4:*string "
        "maxUsedSpace=5:int64 minFreeSpace=6:int64"
    ),
    "moby.buildkit.v1.types.BuildkitVersion": (
        "package=1:string version=2:string revision=3:string dockerfileVersion=4:string"
    ),
    "moby.buildkit.v1.types.CDIDevice": (
        "Name=1:string AutoAllow=2:bool Annotations=3:map<string,string> OnDemand=4:bool"
    ),
    "moby.buildkit.v1.sourcepolicy.Rule": (
        "action=1:moby.buildkit.v1.sourcepolicy.PolicyAction "
        "selector=2:moby.buildkit.v1.sourcepolicy.Selector "
        "updates=3:moby.buildkit.v1.sourcepolicy.Update"
    ),
    "moby.buildkit.v1.sourcepolicy.Update": "identifier=1:string attrs=2:map<string,string>",
    "moby.buildkit.v1.sourcepolicy.Selector": (
        "identifier=1:string match_type=2:moby.buildkit.v1.sourcepolicy.MatchType "
        "constraints=3:*moby.buildkit.v1.sourcepolicy.AttrConstraint"
    ),
    "moby.buildkit.v1.sourcepolicy.AttrConstraint": (
        "key=1:string value=2:string condition=3:moby.buildkit.v1.sourcepolicy.AttrMatch"
    ),
    "moby.buildkit.v1.sourcepolicy.Policy": ("version=1:int64 rules=2:*moby.buildkit.v1.sourcepolicy.Rule"),
    "moby.buildkit.v1.PruneRequest": (
        "filter=1:*string all=2:bool keepDuration=3:int64 reservedSpace=4:int64 "
        "maxUsedSpace=5:int64 minFreeSpace=6:int64"
    ),
    "moby.buildkit.v1.DiskUsageRequest": "filter=1:*string ageLimit=2:int64",
    "moby.buildkit.v1.DiskUsageResponse": "record=1:*moby.buildkit.v1.UsageRecord",
    "moby.buildkit.v1.UsageRecord": (
        "ID=1:string Mutable=2:bool InUse=3:bool Size=4:int64 Parent=5:string "
        "CreatedAt=6:google.protobuf.Timestamp LastUsedAt=7:google.protobuf.Timestamp "
        "UsageCount=8:int64 Description=9:string RecordType=10:string Shared=11:bool "
        "Parents=12:*string"
    ),
    "moby.buildkit.v1.SolveRequest": (
        "Ref=1:string Definition=2:pb.Definition ExporterDeprecated=3:string "
        "ExporterAttrsDeprecated=4:map<string,string> Session=5:string Frontend=6:string "
        "FrontendAttrs=7:map<string,string> Cache=8:moby.buildkit.v1.CacheOptions "
        "Entitlements=9:*string FrontendInputs=10:map<string,pb.Definition> "
        "Internal=11:bool SourcePolicy=12:moby.buildkit.v1.sourcepolicy.Policy "
        "Exporters=13:*moby.buildkit.v1.Exporter EnableSessionExporter=14:bool "
        "SourcePolicySession=15:string CompatibilityVersion=16:int64 ProxyNetwork=17:bool"
    ),
    "moby.buildkit.v1.CacheOptions": (
        "ExportRefDeprecated=1:string ImportRefsDeprecated=2:*string "
        "ExportAttrsDeprecated=3:map<string,string> "
        "Exports=4:*moby.buildkit.v1.CacheOptionsEntry "
        "Imports=5:*moby.buildkit.v1.CacheOptionsEntry"
    ),
    "moby.buildkit.v1.CacheOptionsEntry": "Type=1:string Attrs=2:map<string,string>",
    "moby.buildkit.v1.SolveResponse": "ExporterResponse=1:map<string,string>",
    "moby.buildkit.v1.StatusRequest": "Ref=1:string",
    "moby.buildkit.v1.StatusResponse": (
        "vertexes=1:*moby.buildkit.v1.Vertex statuses=2:*moby.buildkit.v1.VertexStatus "
        "logs=3:*moby.buildkit.v1.VertexLog warnings=4:*moby.buildkit.v1.VertexWarning"
    ),
    "moby.buildkit.v1.Vertex": (
        "digest=1:string inputs=2:*string name=3:string cached=4:bool "
        "started=5:google.protobuf.Timestamp completed=6:google.protobuf.Timestamp "
        "error=7:string progressGroup=8:pb.ProgressGroup"
    ),
    "moby.buildkit.v1.VertexStatus": (
        "ID=1:string vertex=2:string name=3:string current=4:int64 total=5:int64 "
        "timestamp=6:google.protobuf.Timestamp started=7:google.protobuf.Timestamp "
        "completed=8:google.protobuf.Timestamp"
    ),
    "moby.buildkit.v1.VertexLog": ("vertex=1:string timestamp=2:google.protobuf.Timestamp stream=3:int64 msg=4:bytes"),
    "moby.buildkit.v1.VertexWarning": (
        "vertex=1:string level=2:int64 short=3:bytes detail=4:*bytes url=5:string "
        "info=6:pb.SourceInfo ranges=7:*pb.Range"
    ),
    "moby.buildkit.v1.BytesMessage": "data=1:bytes",
    "moby.buildkit.v1.ListWorkersRequest": "filter=1:*string",
    "moby.buildkit.v1.ListWorkersResponse": "record=1:*moby.buildkit.v1.types.WorkerRecord",
    "moby.buildkit.v1.InfoRequest": "",
    "moby.buildkit.v1.InfoResponse": "buildkitVersion=1:moby.buildkit.v1.types.BuildkitVersion",
    "moby.buildkit.v1.BuildHistoryRequest": (
        "ActiveOnly=1:bool Ref=2:string EarlyExit=3:bool Filter=4:*string Limit=5:int32"
    ),
    "moby.buildkit.v1.BuildHistoryEvent": (
        "type=1:moby.buildkit.v1.BuildHistoryEventType record=2:moby.buildkit.v1.BuildHistoryRecord"
    ),
    "moby.buildkit.v1.BuildHistoryRecord": (
        "Ref=1:string Frontend=2:string FrontendAttrs=3:map<string,string> "
        "Exporters=4:*moby.buildkit.v1.Exporter error=5:google.rpc.Status "
        "CreatedAt=6:google.protobuf.Timestamp CompletedAt=7:google.protobuf.Timestamp "
        "logs=8:moby.buildkit.v1.Descriptor ExporterResponse=9:map<string,string> "
        "Result=10:moby.buildkit.v1.BuildResultInfo "
        "Results=11:map<string,moby.buildkit.v1.BuildResultInfo> Generation=12:int32 "
        "trace=13:moby.buildkit.v1.Descriptor pinned=14:bool numCachedSteps=15:int32 "
        "numTotalSteps=16:int32 numCompletedSteps=17:int32 "
        "externalError=18:moby.buildkit.v1.Descriptor numWarnings=19:int32"
    ),
    "moby.buildkit.v1.UpdateBuildHistoryRequest": ("Ref=1:string Pinned=2:bool Delete=3:bool Finalize=4:bool"),
    "moby.buildkit.v1.UpdateBuildHistoryResponse": "",
    "moby.buildkit.v1.Descriptor": (
        "media_type=1:string digest=2:string size=3:int64 annotations=5:map<string,string>"
    ),
    "moby.buildkit.v1.BuildResultInfo": (
        "ResultDeprecated=1:moby.buildkit.v1.Descriptor "
        "Attestations=2:*moby.buildkit.v1.Descriptor "
        "Results=3:map<int64,moby.buildkit.v1.Descriptor>"
    ),
    "moby.buildkit.v1.Exporter": "Type=1:string Attrs=2:map<string,string>",
    "moby.buildkit.v1.apicaps.APICap": (
        "ID=1:string Enabled=2:bool Deprecated=3:bool DisabledReason=4:string "
        "DisabledReasonMsg=5:string DisabledAlternative=6:string"
    ),
    "moby.buildkit.v1.frontend.Result": (
        "refDeprecated=1:string refsDeprecated=2:moby.buildkit.v1.frontend.RefMapDeprecated "
        "ref=3:moby.buildkit.v1.frontend.Ref refs=4:moby.buildkit.v1.frontend.RefMap "
        "metadata=10:map<string,bytes> "
        "attestations=12:map<string,moby.buildkit.v1.frontend.Attestations>"
    ),
    "moby.buildkit.v1.frontend.RefMapDeprecated": "refs=1:map<string,string>",
    "moby.buildkit.v1.frontend.Ref": "id=1:string def=2:pb.Definition",
    "moby.buildkit.v1.frontend.RefMap": "refs=1:map<string,moby.buildkit.v1.frontend.Ref>",
    "moby.buildkit.v1.frontend.Attestations": ("attestation=1:*moby.buildkit.v1.frontend.Attestation"),
    "moby.buildkit.v1.frontend.Attestation": (
        "kind=1:moby.buildkit.v1.frontend.AttestationKind metadata=2:map<string,bytes> "
        "ref=3:moby.buildkit.v1.frontend.Ref path=4:string inTotoPredicateType=5:string "
        "inTotoSubjects=6:*moby.buildkit.v1.frontend.InTotoSubject"
    ),
    "moby.buildkit.v1.frontend.InTotoSubject": (
        "kind=1:moby.buildkit.v1.frontend.InTotoSubjectKind digest=2:*string name=3:string"
    ),
    "moby.buildkit.v1.frontend.ReturnRequest": ("result=1:moby.buildkit.v1.frontend.Result error=2:google.rpc.Status"),
    "moby.buildkit.v1.frontend.ReturnResponse": "",
    "moby.buildkit.v1.frontend.InputsRequest": "",
    "moby.buildkit.v1.frontend.InputsResponse": "Definitions=1:map<string,pb.Definition>",
    "moby.buildkit.v1.frontend.ResolveImageConfigRequest": (
        "Ref=1:string Platform=2:pb.Platform ResolveMode=3:string LogName=4:string "
        "ResolverType=5:int32 SessionID=6:string StoreID=7:string "
        "SourcePolicies=8:*moby.buildkit.v1.sourcepolicy.Policy"
    ),
    "moby.buildkit.v1.frontend.ResolveImageConfigResponse": ("Digest=1:string Config=2:bytes Ref=3:string"),
    "moby.buildkit.v1.frontend.ResolveSourceMetaRequest": (
        "Source=1:pb.SourceOp Platform=2:pb.Platform LogName=3:string ResolveMode=4:string "
        "Git=5:moby.buildkit.v1.frontend.ResolveSourceGitRequest "
        "Image=6:moby.buildkit.v1.frontend.ResolveSourceImageRequest "
        "HTTP=7:moby.buildkit.v1.frontend.ResolveSourceHTTPRequest "
        "SourcePolicies=8:*moby.buildkit.v1.sourcepolicy.Policy"
    ),
    "moby.buildkit.v1.frontend.ResolveSourceMetaResponse": (
        "Source=1:pb.SourceOp Image=2:moby.buildkit.v1.frontend.ResolveSourceImageResponse "
        "Git=3:moby.buildkit.v1.frontend.ResolveSourceGitResponse "
        "HTTP=4:moby.buildkit.v1.frontend.ResolveSourceHTTPResponse"
    ),
    "moby.buildkit.v1.frontend.ResolveSourceImageRequest": (
        "NoConfig=1:bool AttestationChain=2:bool ResolveAttestations=3:*string"
    ),
    "moby.buildkit.v1.frontend.AttestationChain": (
        "Root=1:string ImageManifest=2:string AttestationManifest=3:string "
        "SignatureManifests=4:*string Blobs=5:map<string,moby.buildkit.v1.frontend.Blob>"
    ),
    "moby.buildkit.v1.frontend.ResolveSourceImageResponse": (
        "Digest=1:string Config=2:bytes AttestationChain=3:moby.buildkit.v1.frontend.AttestationChain"
    ),
    "moby.buildkit.v1.frontend.ResolveSourceGitRequest": "ReturnObject=1:bool",
    "moby.buildkit.v1.frontend.ResolveSourceGitResponse": (
        "Checksum=1:string Ref=2:string CommitChecksum=3:string CommitObject=4:bytes TagObject=5:bytes"
    ),
    "moby.buildkit.v1.frontend.ResolveSourceHTTPResponse": (
        "Checksum=1:string Filename=2:string LastModified=3:google.protobuf.Timestamp "
        "ChecksumResponse=4:moby.buildkit.v1.frontend.ChecksumResponse"
    ),
    "moby.buildkit.v1.frontend.ResolveSourceHTTPRequest": (
        "ChecksumRequest=1:moby.buildkit.v1.frontend.ChecksumRequest"
    ),
    "moby.buildkit.v1.frontend.ChecksumRequest": (
        "Algo=1:moby.buildkit.v1.frontend.ChecksumRequest.ChecksumAlgo Suffix=2:bytes"
    ),
    "moby.buildkit.v1.frontend.ChecksumResponse": "Digest=1:string Suffix=2:bytes",
    "moby.buildkit.v1.frontend.SolveRequest": (
        "Definition=1:pb.Definition Frontend=2:string FrontendOpt=3:map<string,string> "
        "allowResultReturn=5:bool allowResultArrayRef=6:bool Final=10:bool "
        "ExporterAttr=11:bytes CacheImports=12:*moby.buildkit.v1.frontend.CacheOptionsEntry "
        "FrontendInputs=13:map<string,pb.Definition> Evaluate=14:bool "
        "SourcePolicies=15:*moby.buildkit.v1.sourcepolicy.Policy"
    ),
    "moby.buildkit.v1.frontend.CacheOptionsEntry": "Type=1:string Attrs=2:map<string,string>",
    "moby.buildkit.v1.frontend.SolveResponse": ("ref=1:string result=3:moby.buildkit.v1.frontend.Result"),
    "moby.buildkit.v1.frontend.ReadFileRequest": (
        "Ref=1:string FilePath=2:string Range=3:moby.buildkit.v1.frontend.FileRange MountIndex=4:int32"
    ),
    "moby.buildkit.v1.frontend.FileRange": "Offset=1:int64 Length=2:int64",
    "moby.buildkit.v1.frontend.ReadFileResponse": "Data=1:bytes",
    "moby.buildkit.v1.frontend.ReadDirRequest": (
        "Ref=1:string DirPath=2:string IncludePattern=3:string MountIndex=4:int32"
    ),
    "moby.buildkit.v1.frontend.ReadDirResponse": "entries=1:*fsutil.types.Stat",
    "moby.buildkit.v1.frontend.StatFileRequest": ("Ref=1:string Path=2:string MountIndex=3:int32"),
    "moby.buildkit.v1.frontend.StatFileResponse": "stat=1:fsutil.types.Stat",
    "moby.buildkit.v1.frontend.EvaluateRequest": "Ref=1:string",
    "moby.buildkit.v1.frontend.EvaluateResponse": "",
    "moby.buildkit.v1.frontend.PingRequest": "",
    "moby.buildkit.v1.frontend.PongResponse": (
        "FrontendAPICaps=1:*moby.buildkit.v1.apicaps.APICap "
        "LLBCaps=2:*moby.buildkit.v1.apicaps.APICap "
        "Workers=3:*moby.buildkit.v1.types.WorkerRecord"
    ),
    "moby.buildkit.v1.frontend.WarnRequest": (
        "digest=1:string level=2:int64 short=3:bytes detail=4:*bytes url=5:string "
        "info=6:pb.SourceInfo ranges=7:*pb.Range"
    ),
    "moby.buildkit.v1.frontend.WarnResponse": "",
    "moby.buildkit.v1.frontend.NewContainerRequest": (
        "ContainerID=1:string Mounts=2:*pb.Mount Network=3:pb.NetMode "
        "platform=4:pb.Platform constraints=5:pb.WorkerConstraints extraHosts=6:*pb.HostIP "
        "hostname=7:string"
    ),
    "moby.buildkit.v1.frontend.NewContainerResponse": "",
    "moby.buildkit.v1.frontend.ReleaseContainerRequest": "ContainerID=1:string",
    "moby.buildkit.v1.frontend.ReleaseContainerResponse": "",
    "moby.buildkit.v1.frontend.ExecMessage": (
        "ProcessID=1:string Init=2:moby.buildkit.v1.frontend.InitMessage "
        "File=3:moby.buildkit.v1.frontend.FdMessage "
        "Resize=4:moby.buildkit.v1.frontend.ResizeMessage "
        "Started=5:moby.buildkit.v1.frontend.StartedMessage "
        "Exit=6:moby.buildkit.v1.frontend.ExitMessage "
        "Done=7:moby.buildkit.v1.frontend.DoneMessage "
        "Signal=8:moby.buildkit.v1.frontend.SignalMessage"
    ),
    "moby.buildkit.v1.frontend.InitMessage": (
        "ContainerID=1:string Meta=2:pb.Meta Fds=3:*uint32 Tty=4:bool "
        "Security=5:pb.SecurityMode secretenv=6:*pb.SecretEnv"
    ),
    "moby.buildkit.v1.frontend.ExitMessage": "Code=1:uint32 Error=2:google.rpc.Status",
    "moby.buildkit.v1.frontend.StartedMessage": "",
    "moby.buildkit.v1.frontend.DoneMessage": "",
    "moby.buildkit.v1.frontend.FdMessage": "Fd=1:uint32 EOF=2:bool Data=3:bytes",
    "moby.buildkit.v1.frontend.ResizeMessage": "Rows=1:uint32 Cols=2:uint32",
    "moby.buildkit.v1.frontend.SignalMessage": "Name=1:string",
    "moby.buildkit.v1.frontend.Blob": ("descriptor=1:moby.buildkit.v1.frontend.Descriptor data=2:bytes"),
    "moby.buildkit.v1.frontend.Descriptor": (
        "media_type=1:string digest=2:string size=3:int64 annotations=5:map<string,string>"
    ),
    "fsutil.types.Stat": (
        "path=1:string mode=2:uint32 uid=3:uint32 gid=4:uint32 size=5:int64 modTime=6:int64 "
        "linkname=7:string devmajor=8:int64 devminor=9:int64 xattrs=10:map<string,bytes>"
    ),
    "fsutil.types.Packet": ("type=1:fsutil.types.Packet.PacketType stat=2:fsutil.types.Stat ID=3:uint32 data=4:bytes"),
    "moby.filesync.v1.BytesMessage": "data=1:bytes",
    "moby.filesync.v1.CredentialsRequest": "Host=1:string",
    "moby.filesync.v1.CredentialsResponse": "Username=1:string Secret=2:string",
    "moby.filesync.v1.FetchTokenRequest": (
        "ClientID=1:string Host=2:string Realm=3:string Service=4:string Scopes=5:*string"
    ),
    "moby.filesync.v1.FetchTokenResponse": "Token=1:string ExpiresIn=2:int64 IssuedAt=3:int64",
    "moby.filesync.v1.GetTokenAuthorityRequest": "Host=1:string Salt=2:bytes",
    "moby.filesync.v1.GetTokenAuthorityResponse": "PublicKey=1:bytes",
    "moby.filesync.v1.VerifyTokenAuthorityRequest": ("Host=1:string Payload=2:bytes Salt=3:bytes"),
    "moby.filesync.v1.VerifyTokenAuthorityResponse": "Signed=1:bytes",
    "moby.buildkit.secrets.v1.GetSecretRequest": "ID=1:string annotations=2:map<string,string>",
    "moby.buildkit.secrets.v1.GetSecretResponse": "data=1:bytes",
    "moby.sshforward.v1.BytesMessage": "data=1:bytes",
    "moby.sshforward.v1.CheckAgentRequest": "ID=1:string",
    "moby.sshforward.v1.CheckAgentResponse": "",
    "moby.upload.v1.BytesMessage": "data=1:bytes",
    "moby.exporter.v1.FindExportersRequest": "metadata=1:map<string,bytes> refs=2:*string",
    "moby.exporter.v1.FindExportersResponse": "exporters=1:*moby.exporter.v1.ExporterRequest",
    "moby.exporter.v1.ExporterRequest": "Type=1:string Attrs=2:map<string,string>",
    "moby.exporter.v1.FinalizeExportRequest": "exporter_response=1:map<string,string>",
    "moby.exporter.v1.FinalizeExportResponse": "",
    "containerd.services.content.v1.Info": (
        "digest=1:string size=2:int64 created_at=3:google.protobuf.Timestamp "
        "updated_at=4:google.protobuf.Timestamp labels=5:map<string,string>"
    ),
    "containerd.services.content.v1.InfoRequest": "digest=1:string",
    "containerd.services.content.v1.InfoResponse": "info=1:containerd.services.content.v1.Info",
    "containerd.services.content.v1.UpdateRequest": (
        "info=1:containerd.services.content.v1.Info update_mask=2:google.protobuf.FieldMask"
    ),
    "containerd.services.content.v1.UpdateResponse": ("info=1:containerd.services.content.v1.Info"),
    "containerd.services.content.v1.ListContentRequest": "filters=1:*string",
    "containerd.services.content.v1.ListContentResponse": ("info=1:*containerd.services.content.v1.Info"),
    "containerd.services.content.v1.DeleteContentRequest": "digest=1:string",
    "containerd.services.content.v1.ReadContentRequest": ("digest=1:string offset=2:int64 size=3:int64"),
    "containerd.services.content.v1.ReadContentResponse": "offset=1:int64 data=2:bytes",
    "containerd.services.content.v1.Status": (
        "started_at=1:google.protobuf.Timestamp updated_at=2:google.protobuf.Timestamp "
        "ref=3:string offset=4:int64 total=5:int64 expected=6:string"
    ),
    "containerd.services.content.v1.StatusRequest": "ref=1:string",
    "containerd.services.content.v1.StatusResponse": ("status=1:containerd.services.content.v1.Status"),
    "containerd.services.content.v1.ListStatusesRequest": "filters=1:*string",
    "containerd.services.content.v1.ListStatusesResponse": ("statuses=1:*containerd.services.content.v1.Status"),
    "containerd.services.content.v1.WriteContentRequest": (
        "action=1:containerd.services.content.v1.WriteAction ref=2:string total=3:int64 "
        "expected=4:string offset=5:int64 data=6:bytes labels=7:map<string,string>"
    ),
    "containerd.services.content.v1.WriteContentResponse": (
        "action=1:containerd.services.content.v1.WriteAction "
        "started_at=2:google.protobuf.Timestamp updated_at=3:google.protobuf.Timestamp "
        "offset=4:int64 total=5:int64 digest=6:string"
    ),
    "containerd.services.content.v1.AbortRequest": "ref=1:string",
}

ONEOFS: dict[str, str] = {
    "pb.Op": "op: exec source file build merge diff passthrough",
    "pb.FileAction": "action: copy mkfile mkdir rm symlink",
    "pb.UserOpt": "user: byName byID",
    "moby.buildkit.v1.frontend.Result": "result: refDeprecated refsDeprecated ref refs",
    "moby.buildkit.v1.frontend.ExecMessage": "Input: Init File Resize Started Exit Done Signal",
}

ENUMS: dict[str, str] = {
    "grpc.health.v1.HealthCheckResponse.ServingStatus": ("UNKNOWN=0 SERVING=1 NOT_SERVING=2 SERVICE_UNKNOWN=3"),
    "pb.NetMode": "UNSET=0 HOST=1 NONE=2",
    "pb.SecurityMode": "SANDBOX=0 INSECURE=1",
    "pb.MountType": "BIND=0 SECRET=1 SSH=2 CACHE=3 TMPFS=4",
    "pb.MountContentCache": "DEFAULT=0 ON=1 OFF=2",
    "pb.CacheSharingOpt": "SHARED=0 PRIVATE=1 LOCKED=2",
    "moby.buildkit.v1.sourcepolicy.PolicyAction": "ALLOW=0 DENY=1 CONVERT=2",
    "moby.buildkit.v1.sourcepolicy.AttrMatch": "EQUAL=0 NOTEQUAL=1 MATCHES=2",
    "moby.buildkit.v1.sourcepolicy.MatchType": "WILDCARD=0 EXACT=1 REGEX=2",
    "moby.buildkit.v1.BuildHistoryEventType": "STARTED=0 COMPLETE=1 DELETED=2",
    "moby.buildkit.v1.frontend.AttestationKind": "InToto=0 Bundle=1",
    "moby.buildkit.v1.frontend.InTotoSubjectKind": "Self=0 Raw=1",
    "moby.buildkit.v1.frontend.ChecksumRequest.ChecksumAlgo": (
        "CHECKSUM_ALGO_SHA256=0 CHECKSUM_ALGO_SHA384=1 CHECKSUM_ALGO_SHA512=2"
    ),
    "fsutil.types.Packet.PacketType": ("PACKET_STAT=0 PACKET_REQ=1 PACKET_DATA=2 PACKET_FIN=3 PACKET_ERR=4"),
    "containerd.services.content.v1.WriteAction": "STAT=0 WRITE=1 COMMIT=2",
}

SERVICES: dict[str, list[str]] = {
    "grpc.health.v1.Health": [
        "Check(HealthCheckRequest) -> HealthCheckResponse",
        "Watch(HealthCheckRequest) -> stream HealthCheckResponse",
    ],
    "moby.buildkit.v1.Control": [
        "DiskUsage(DiskUsageRequest) -> DiskUsageResponse",
        "Prune(PruneRequest) -> stream UsageRecord",
        "Solve(SolveRequest) -> SolveResponse",
        "Status(StatusRequest) -> stream StatusResponse",
        "Session(stream BytesMessage) -> stream BytesMessage",
        "ListWorkers(ListWorkersRequest) -> ListWorkersResponse",
        "Info(InfoRequest) -> InfoResponse",
        "ListenBuildHistory(BuildHistoryRequest) -> stream BuildHistoryEvent",
        "UpdateBuildHistory(UpdateBuildHistoryRequest) -> UpdateBuildHistoryResponse",
    ],
    "moby.buildkit.v1.frontend.LLBBridge": [
        "ResolveImageConfig(ResolveImageConfigRequest) -> ResolveImageConfigResponse",
        "ResolveSourceMeta(ResolveSourceMetaRequest) -> ResolveSourceMetaResponse",
        "Solve(SolveRequest) -> SolveResponse",
        "ReadFile(ReadFileRequest) -> ReadFileResponse",
        "ReadDir(ReadDirRequest) -> ReadDirResponse",
        "StatFile(StatFileRequest) -> StatFileResponse",
        "Evaluate(EvaluateRequest) -> EvaluateResponse",
        "Ping(PingRequest) -> PongResponse",
        "Return(ReturnRequest) -> ReturnResponse",
        "Inputs(InputsRequest) -> InputsResponse",
        "NewContainer(NewContainerRequest) -> NewContainerResponse",
        "ReleaseContainer(ReleaseContainerRequest) -> ReleaseContainerResponse",
        "ExecProcess(stream ExecMessage) -> stream ExecMessage",
        "ReadFileContainer(ReadFileRequest) -> ReadFileResponse",
        "ReadDirContainer(ReadDirRequest) -> ReadDirResponse",
        "StatFileContainer(StatFileRequest) -> StatFileResponse",
        "Warn(WarnRequest) -> WarnResponse",
    ],
    "moby.filesync.v1.FileSync": [
        "DiffCopy(stream fsutil.types.Packet) -> stream fsutil.types.Packet",
        "TarStream(stream fsutil.types.Packet) -> stream fsutil.types.Packet",
    ],
    "moby.filesync.v1.FileSend": [
        "DiffCopy(stream BytesMessage) -> stream BytesMessage",
    ],
    "moby.filesync.v1.Auth": [
        "Credentials(CredentialsRequest) -> CredentialsResponse",
        "FetchToken(FetchTokenRequest) -> FetchTokenResponse",
        "GetTokenAuthority(GetTokenAuthorityRequest) -> GetTokenAuthorityResponse",
        "VerifyTokenAuthority(VerifyTokenAuthorityRequest) -> VerifyTokenAuthorityResponse",
    ],
    "moby.buildkit.secrets.v1.Secrets": [
        "GetSecret(GetSecretRequest) -> GetSecretResponse",
    ],
    "moby.sshforward.v1.SSH": [
        "CheckAgent(CheckAgentRequest) -> CheckAgentResponse",
        "ForwardAgent(stream BytesMessage) -> stream BytesMessage",
    ],
    "moby.upload.v1.Upload": [
        "Pull(stream BytesMessage) -> stream BytesMessage",
    ],
    "moby.exporter.v1.Exporter": [
        "FindExporters(FindExportersRequest) -> FindExportersResponse",
        "FinalizeExport(FinalizeExportRequest) -> FinalizeExportResponse",
    ],
    "containerd.services.content.v1.Content": [
        "Info(InfoRequest) -> InfoResponse",
        "Update(UpdateRequest) -> UpdateResponse",
        "List(ListContentRequest) -> stream ListContentResponse",
        "Delete(DeleteContentRequest) -> google.protobuf.Empty",
        "Read(ReadContentRequest) -> stream ReadContentResponse",
        "Status(StatusRequest) -> StatusResponse",
        "ListStatuses(ListStatusesRequest) -> ListStatusesResponse",
        "Write(stream WriteContentRequest) -> stream WriteContentResponse",
        "Abort(AbortRequest) -> google.protobuf.Empty",
    ],
}


_MESSAGES_BY_NAME = {d.full_name: d for d in _all_messages()}
_ENUMS_BY_NAME = {e.full_name: e for e in _all_enums()}


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_message_fields(name):
    assert name in _MESSAGES_BY_NAME, f"message {name} not generated"
    assert _message_spec(_MESSAGES_BY_NAME[name]) == MESSAGES[name]


def test_every_generated_message_is_in_the_table():
    assert sorted(set(_MESSAGES_BY_NAME) - set(MESSAGES)) == []


@pytest.mark.parametrize("name", sorted(_MESSAGES_BY_NAME))
def test_oneofs(name):
    desc = _MESSAGES_BY_NAME[name]
    got = " ".join(f"{o.name}: " + " ".join(f.name for f in o.fields) for o in desc.oneofs)
    assert got == ONEOFS.get(name, "")


@pytest.mark.parametrize("name", sorted(ENUMS))
def test_enum_values(name):
    assert name in _ENUMS_BY_NAME, f"enum {name} not generated"
    got = " ".join(f"{v.name}={v.number}" for v in _ENUMS_BY_NAME[name].values)
    assert got == ENUMS[name]


def test_every_generated_enum_is_in_the_table():
    assert sorted(set(_ENUMS_BY_NAME) - set(ENUMS)) == []


def _services():
    return {s.full_name: s for fd in _file_descriptors() for s in fd.services_by_name.values()}


def _rel(desc, package: str) -> str:
    name = desc.full_name
    return name[len(package) + 1 :] if desc.file.package == package else name


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_methods(name):
    services = _services()
    assert name in services, f"service {name} not generated"
    svc = services[name]
    pkg = svc.file.package
    got = []
    for m in svc.methods:
        cs = "stream " if m.client_streaming else ""
        ss = "stream " if m.server_streaming else ""
        got.append(f"{m.name}({cs}{_rel(m.input_type, pkg)}) -> {ss}{_rel(m.output_type, pkg)}")
    assert got == SERVICES[name]


def test_every_generated_service_is_in_the_table():
    assert sorted(set(_services()) - set(SERVICES)) == []


def test_grpc_method_paths():
    """The stubs call the exact paths the daemon / session peers serve."""
    from hlb._proto import (
        auth_pb2_grpc,
        content_pb2_grpc,
        control_pb2_grpc,
        filesync_pb2_grpc,
        gateway_pb2_grpc,
        health_pb2_grpc,
    )

    class Recorder:
        def __init__(self):
            self.paths = []

        def _record(self, path, *args, **kwargs):
            self.paths.append(path)

        unary_unary = unary_stream = stream_unary = stream_stream = _record

    cases = [
        (control_pb2_grpc.ControlStub, "/moby.buildkit.v1.Control/Solve"),
        (control_pb2_grpc.ControlStub, "/moby.buildkit.v1.Control/Session"),
        (gateway_pb2_grpc.LLBBridgeStub, "/moby.buildkit.v1.frontend.LLBBridge/Return"),
        (filesync_pb2_grpc.FileSyncStub, "/moby.filesync.v1.FileSync/DiffCopy"),
        (filesync_pb2_grpc.FileSendStub, "/moby.filesync.v1.FileSend/DiffCopy"),
        (auth_pb2_grpc.AuthStub, "/moby.filesync.v1.Auth/Credentials"),
        (health_pb2_grpc.HealthStub, "/grpc.health.v1.Health/Check"),
        (content_pb2_grpc.ContentStub, "/containerd.services.content.v1.Content/Write"),
    ]
    for stub, path in cases:
        rec = Recorder()
        stub(rec)
        assert path in rec.paths


def test_generated_grpc_code_serves_and_calls():
    """Generated servicer/stub work with the installed grpcio (health over a
    private unix socket: the exact service BuildKit calls on every session)."""
    import tempfile
    from concurrent import futures

    import grpc

    from hlb._proto import health_pb2, health_pb2_grpc

    serving = health_pb2.HealthCheckResponse.SERVING

    class Health(health_pb2_grpc.HealthServicer):
        def Check(self, request, context):
            return health_pb2.HealthCheckResponse(status=serving)

        def Watch(self, request, context):
            yield health_pb2.HealthCheckResponse(status=serving)

    with tempfile.TemporaryDirectory(prefix="hlb-proto-") as tmp:  # short socket path
        address = f"unix:{tmp}/health.sock"
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        health_pb2_grpc.add_HealthServicer_to_server(Health(), server)
        server.add_insecure_port(address)
        server.start()
        try:
            with grpc.insecure_channel(address) as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                request = health_pb2.HealthCheckRequest(service="")
                assert stub.Check(request, timeout=10).status == serving
                assert [r.status for r in stub.Watch(request, timeout=10)] == [serving]
        finally:
            server.stop(None)


def test_auth_lives_in_the_filesync_package():
    # Upstream quirk: the Auth service is declared in package moby.filesync.v1.
    from hlb._proto import auth_pb2, filesync_pb2

    assert auth_pb2.DESCRIPTOR.package == filesync_pb2.DESCRIPTOR.package == "moby.filesync.v1"


# --------------------------------------------------------------------------
# 3. golden LLB from BuildKit's Go client


def go_op_bytes(op: pb.Op) -> bytes:
    """buildkit-protocol.md §3.2: protobuf-go writes Op's oneof after
    platform/constraints, so serialize the Op without its oneof, then the
    oneof member alone."""
    head = pb.Op()
    head.CopyFrom(op)
    head.ClearField("op")
    tail = pb.Op()
    kind = op.WhichOneof("op")
    if kind:
        getattr(tail, kind).CopyFrom(getattr(op, kind))
    return head.SerializeToString(deterministic=True) + tail.SerializeToString(deterministic=True)


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _len_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _always(f, value) -> bytes:
    """A map key/value field, written even when zero (as protobuf-go does)."""
    if f.type == FieldDescriptor.TYPE_MESSAGE:
        return _len_field(f.number, go_marshal(value))
    if f.type == FieldDescriptor.TYPE_STRING:
        return _len_field(f.number, value.encode())
    if f.type == FieldDescriptor.TYPE_BYTES:
        return _len_field(f.number, value)
    # bool / int32 / int64 / uint32 / uint64 / enum
    return _varint(f.number << 3) + _varint(int(value))


def _map_sort_key(key):
    return key.encode() if isinstance(key, str) else key


def go_marshal(msg) -> bytes:
    """Reference encoder with protobuf-go's deterministic layout: fields in
    number order except oneof members last, map entries sorted by key
    (bytewise for strings). Scalars are encoded by the protobuf runtime one
    field at a time. (None of our .proto files use proto3 `optional`, so every
    oneof here is a real one.)"""
    fields = sorted(msg.DESCRIPTOR.fields, key=lambda f: f.number)
    ordered = [f for f in fields if f.containing_oneof is None] + [f for f in fields if f.containing_oneof is not None]
    out = bytearray()
    for f in ordered:
        value = getattr(msg, f.name)
        if _is_map(f):
            kf = f.message_type.fields_by_name["key"]
            vf = f.message_type.fields_by_name["value"]
            for k in sorted(value, key=_map_sort_key):
                out += _len_field(f.number, _always(kf, k) + _always(vf, value[k]))
        elif f.type == FieldDescriptor.TYPE_MESSAGE:
            if f.is_repeated:
                items = list(value)
            else:
                items = [value] if msg.HasField(f.name) else []
            for item in items:
                out += _len_field(f.number, go_marshal(item))
        else:
            single = type(msg)()
            if f.is_repeated:
                getattr(single, f.name).extend(value)
            elif not f.has_presence or msg.HasField(f.name):
                setattr(single, f.name, value)
            out += single.SerializeToString(deterministic=True)
    return bytes(out)


def _unknown_field_count(msg) -> int:
    count = len(unknown_fields.UnknownFieldSet(msg))
    for f, value in msg.ListFields():
        if f.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if _is_map(f):
            items = value.values() if f.message_type.fields_by_name["value"].message_type else []
        else:
            items = value if f.is_repeated else [value]
        count += sum(_unknown_field_count(m) for m in items)
    return count


def _golden_cases():
    return sorted(GOLDEN.glob("*.json"))


def _golden_ops():
    for path in _golden_cases():
        data = json.loads(path.read_text())
        for op in data["ops"]:
            yield pytest.param(data, op, id=f"{data['name']}-{op['index']}")


def test_golden_files_present():
    names = sorted(p.stem for p in _golden_cases())
    assert names == [
        "copy",
        "diff",
        "image",
        "merge",
        "mkfile",
        "run",
        "run_cachemount",
    ]
    for name in names:
        assert (GOLDEN / f"{name}.det.pb").is_file()


@pytest.mark.parametrize(("case", "entry"), list(_golden_ops()))
def test_golden_op_roundtrip(case, entry):
    raw = bytes.fromhex(entry["hex"])
    assert len(raw) == entry["size"]
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == entry["digest"]

    op = pb.Op.FromString(raw)
    assert go_op_bytes(op) == raw
    assert go_marshal(op) == raw
    # The JSON rendering of the same op (Go protojson) agrees field by field,
    # which also pins the JSON names of every field used.
    assert json_format.MessageToDict(op) == entry["op"]
    # Everything Go wrote is known to our schema.
    assert _unknown_field_count(op) == 0


@pytest.mark.parametrize("path", _golden_cases(), ids=lambda p: p.stem)
def test_golden_definition(path):
    case = json.loads(path.read_text())
    raw = (GOLDEN / f"{path.stem}.det.pb").read_bytes()
    assert len(raw) == case["deterministicDefinitionSize"]
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == case["deterministicDefinitionDigest"]

    definition = pb.Definition.FromString(raw)
    assert [d.hex() for d in getattr(definition, "def")] == [op["hex"] for op in case["ops"]]
    for op in case["ops"]:
        meta = definition.metadata[op["digest"]]
        assert json_format.MessageToDict(meta) == op.get("metadata", {})
    # The terminal op references the head.
    terminal = pb.Op.FromString(getattr(definition, "def")[-1])
    assert [i.digest for i in terminal.inputs] == [case["head"]]
    assert definition.HasField("Source")

    # Go's deterministic Definition bytes are reproducible from Python when
    # map keys are emitted in bytewise order.
    assert go_marshal(definition) == raw


def _map_keys_in_wire_order(raw: bytes) -> list[str]:
    """Keys of a message made only of short map<string,_> entries, in wire order."""
    keys, i = [], 0
    while i < len(raw):
        length = raw[i + 1]
        entry = raw[i + 2 : i + 2 + length]
        keys.append(entry[2 : 2 + entry[1]].decode())
        i += 2 + length
    return keys


def test_upb_deterministic_map_order_is_not_bytewise():
    """Finding for the LLB marshaller (see buildkit-protocol.md §3.2, README of
    the golden files): run_cachemount's metadata has caps "exec.mount.cache"
    and "exec.mount.cache.sharing"; protobuf-go sorts "a" < "ab", while the
    upb backend's deterministic mode emits a key after the longer keys it
    prefixes. The pure-python backend sorts bytewise. Either way go_marshal
    (explicit bytewise order) matches Go."""
    raw = (GOLDEN / "run_cachemount.det.pb").read_bytes()
    definition = pb.Definition.FromString(raw)
    caps = [list(m.caps) for m in definition.metadata.values()]
    assert any("exec.mount.cache" in c and "exec.mount.cache.sharing" in c for c in caps)

    meta = pb.OpMetadata()
    for key in ("exec.mount.cache.sharing", "exec.mount.cache", "a", "ab"):
        meta.caps[key] = True
    assert _map_keys_in_wire_order(go_marshal(meta)) == [
        "a",
        "ab",
        "exec.mount.cache",
        "exec.mount.cache.sharing",
    ]
    python_bytes = meta.SerializeToString(deterministic=True)
    if python_bytes != go_marshal(meta):
        from google.protobuf.internal import api_implementation

        assert api_implementation.Type() == "upb"


def test_int64_minus_one_is_ten_byte_varint():
    mount = pb.Mount(input=-1, output=-1)
    assert mount.SerializeToString() == b"\x08" + b"\xff" * 9 + b"\x01" + b"\x20" + b"\xff" * 9 + b"\x01"


def test_oneof_zero_member_is_written():
    # UserOpt.byID = 0 is still written (10 00), as protobuf-go does.
    assert pb.UserOpt(byID=0).SerializeToString() == b"\x10\x00"


# --------------------------------------------------------------------------
# 4. generated code is in sync with protos/


def _recorded_generator() -> str | None:
    text = (REPO / "hlb" / "_proto" / "__init__.py").read_text()
    m = re.search(r"^# generator: grpcio-tools (\S+)", text, re.MULTILINE)
    return m.group(1) if m else None


def test_gen_protos_check():
    pytest.importorskip("grpc_tools")
    from importlib import metadata

    installed = metadata.version("grpcio-tools")
    recorded = _recorded_generator()
    if recorded != installed:
        pytest.skip(
            f"hlb/_proto was generated with grpcio-tools {recorded}, "
            f"installed is {installed}: byte comparison is not meaningful"
        )
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_protos.py"), "--check"],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
