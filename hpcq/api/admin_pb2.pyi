from hpcq.api import nodes_pb2 as _nodes_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NodeState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NODE_STATE_UNSPECIFIED: _ClassVar[NodeState]
    NODE_IDLE: _ClassVar[NodeState]
    NODE_MIXED: _ClassVar[NodeState]
    NODE_ALLOCATED: _ClassVar[NodeState]
    NODE_DOWN: _ClassVar[NodeState]
    NODE_DRAINING: _ClassVar[NodeState]
    NODE_DRAINED: _ClassVar[NodeState]
NODE_STATE_UNSPECIFIED: NodeState
NODE_IDLE: NodeState
NODE_MIXED: NodeState
NODE_ALLOCATED: NodeState
NODE_DOWN: NodeState
NODE_DRAINING: NodeState
NODE_DRAINED: NodeState

class Node(_message.Message):
    __slots__ = ("name", "state", "reason", "hardware", "load", "cpus_allocated", "memory_allocated_mb", "gpus_allocated", "job_ids", "last_seen", "boot_time", "connected")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    CPUS_ALLOCATED_FIELD_NUMBER: _ClassVar[int]
    MEMORY_ALLOCATED_MB_FIELD_NUMBER: _ClassVar[int]
    GPUS_ALLOCATED_FIELD_NUMBER: _ClassVar[int]
    JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    BOOT_TIME_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: NodeState
    reason: str
    hardware: _nodes_pb2.Hardware
    load: _nodes_pb2.Load
    cpus_allocated: int
    memory_allocated_mb: int
    gpus_allocated: int
    job_ids: _containers.RepeatedScalarFieldContainer[int]
    last_seen: float
    boot_time: float
    connected: bool
    def __init__(self, name: _Optional[str] = ..., state: _Optional[_Union[NodeState, str]] = ..., reason: _Optional[str] = ..., hardware: _Optional[_Union[_nodes_pb2.Hardware, _Mapping]] = ..., load: _Optional[_Union[_nodes_pb2.Load, _Mapping]] = ..., cpus_allocated: _Optional[int] = ..., memory_allocated_mb: _Optional[int] = ..., gpus_allocated: _Optional[int] = ..., job_ids: _Optional[_Iterable[int]] = ..., last_seen: _Optional[float] = ..., boot_time: _Optional[float] = ..., connected: _Optional[bool] = ...) -> None: ...

class Queue(_message.Message):
    __slots__ = ("name", "is_default", "state", "nodes", "default_walltime_seconds", "max_walltime_seconds", "priority", "max_running_per_user", "max_cpus_per_user", "default_mem_per_cpu_mb", "allowed_users", "allowed_groups", "max_submit_per_user")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Queue.State]
        UP: _ClassVar[Queue.State]
        DOWN: _ClassVar[Queue.State]
        DRAIN: _ClassVar[Queue.State]
        INACTIVE: _ClassVar[Queue.State]
    STATE_UNSPECIFIED: Queue.State
    UP: Queue.State
    DOWN: Queue.State
    DRAIN: Queue.State
    INACTIVE: Queue.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_WALLTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_WALLTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    MAX_RUNNING_PER_USER_FIELD_NUMBER: _ClassVar[int]
    MAX_CPUS_PER_USER_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_MEM_PER_CPU_MB_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_USERS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_GROUPS_FIELD_NUMBER: _ClassVar[int]
    MAX_SUBMIT_PER_USER_FIELD_NUMBER: _ClassVar[int]
    name: str
    is_default: bool
    state: Queue.State
    nodes: _containers.RepeatedScalarFieldContainer[str]
    default_walltime_seconds: int
    max_walltime_seconds: int
    priority: int
    max_running_per_user: int
    max_cpus_per_user: int
    default_mem_per_cpu_mb: int
    allowed_users: _containers.RepeatedScalarFieldContainer[str]
    allowed_groups: _containers.RepeatedScalarFieldContainer[str]
    max_submit_per_user: int
    def __init__(self, name: _Optional[str] = ..., is_default: _Optional[bool] = ..., state: _Optional[_Union[Queue.State, str]] = ..., nodes: _Optional[_Iterable[str]] = ..., default_walltime_seconds: _Optional[int] = ..., max_walltime_seconds: _Optional[int] = ..., priority: _Optional[int] = ..., max_running_per_user: _Optional[int] = ..., max_cpus_per_user: _Optional[int] = ..., default_mem_per_cpu_mb: _Optional[int] = ..., allowed_users: _Optional[_Iterable[str]] = ..., allowed_groups: _Optional[_Iterable[str]] = ..., max_submit_per_user: _Optional[int] = ...) -> None: ...

class ListNodesRequest(_message.Message):
    __slots__ = ("names",)
    NAMES_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, names: _Optional[_Iterable[str]] = ...) -> None: ...

class ListNodesResponse(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[Node]
    def __init__(self, nodes: _Optional[_Iterable[_Union[Node, _Mapping]]] = ...) -> None: ...

class NodeActionRequest(_message.Message):
    __slots__ = ("name", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class NodeActionResponse(_message.Message):
    __slots__ = ("node",)
    NODE_FIELD_NUMBER: _ClassVar[int]
    node: Node
    def __init__(self, node: _Optional[_Union[Node, _Mapping]] = ...) -> None: ...

class ListQueuesRequest(_message.Message):
    __slots__ = ("names",)
    NAMES_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, names: _Optional[_Iterable[str]] = ...) -> None: ...

class ListQueuesResponse(_message.Message):
    __slots__ = ("queues",)
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    queues: _containers.RepeatedCompositeFieldContainer[Queue]
    def __init__(self, queues: _Optional[_Iterable[_Union[Queue, _Mapping]]] = ...) -> None: ...

class QueueRequest(_message.Message):
    __slots__ = ("queue", "fields")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    queue: Queue
    fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, queue: _Optional[_Union[Queue, _Mapping]] = ..., fields: _Optional[_Iterable[str]] = ...) -> None: ...

class QueueResponse(_message.Message):
    __slots__ = ("queue",)
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    queue: Queue
    def __init__(self, queue: _Optional[_Union[Queue, _Mapping]] = ...) -> None: ...

class DeleteQueueRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteQueueResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerInfoResponse(_message.Message):
    __slots__ = ("cluster", "version", "start_time", "next_job_id", "jobs_by_state", "nodes", "caller", "caller_role", "default_queue", "controllers", "last_takeover", "settings")
    class JobsByStateEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class SettingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    NEXT_JOB_ID_FIELD_NUMBER: _ClassVar[int]
    JOBS_BY_STATE_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    CALLER_ROLE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_QUEUE_FIELD_NUMBER: _ClassVar[int]
    CONTROLLERS_FIELD_NUMBER: _ClassVar[int]
    LAST_TAKEOVER_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    cluster: str
    version: str
    start_time: float
    next_job_id: int
    jobs_by_state: _containers.ScalarMap[str, int]
    nodes: int
    caller: str
    caller_role: str
    default_queue: str
    controllers: _containers.RepeatedCompositeFieldContainer[Controller]
    last_takeover: float
    settings: _containers.ScalarMap[str, str]
    def __init__(self, cluster: _Optional[str] = ..., version: _Optional[str] = ..., start_time: _Optional[float] = ..., next_job_id: _Optional[int] = ..., jobs_by_state: _Optional[_Mapping[str, int]] = ..., nodes: _Optional[int] = ..., caller: _Optional[str] = ..., caller_role: _Optional[str] = ..., default_queue: _Optional[str] = ..., controllers: _Optional[_Iterable[_Union[Controller, _Mapping]]] = ..., last_takeover: _Optional[float] = ..., settings: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Controller(_message.Message):
    __slots__ = ("address", "role", "since", "epoch")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    address: str
    role: str
    since: float
    epoch: int
    def __init__(self, address: _Optional[str] = ..., role: _Optional[str] = ..., since: _Optional[float] = ..., epoch: _Optional[int] = ...) -> None: ...

class Share(_message.Message):
    __slots__ = ("account", "user", "shares", "usage")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    account: str
    user: str
    shares: int
    usage: float
    def __init__(self, account: _Optional[str] = ..., user: _Optional[str] = ..., shares: _Optional[int] = ..., usage: _Optional[float] = ...) -> None: ...

class ListSharesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSharesResponse(_message.Message):
    __slots__ = ("shares", "user_usage", "account_usage", "default_shares")
    class UserUsageEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class AccountUsageEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    SHARES_FIELD_NUMBER: _ClassVar[int]
    USER_USAGE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_USAGE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_SHARES_FIELD_NUMBER: _ClassVar[int]
    shares: _containers.RepeatedCompositeFieldContainer[Share]
    user_usage: _containers.ScalarMap[str, float]
    account_usage: _containers.ScalarMap[str, float]
    default_shares: int
    def __init__(self, shares: _Optional[_Iterable[_Union[Share, _Mapping]]] = ..., user_usage: _Optional[_Mapping[str, float]] = ..., account_usage: _Optional[_Mapping[str, float]] = ..., default_shares: _Optional[int] = ...) -> None: ...

class SetShareRequest(_message.Message):
    __slots__ = ("share",)
    SHARE_FIELD_NUMBER: _ClassVar[int]
    share: Share
    def __init__(self, share: _Optional[_Union[Share, _Mapping]] = ...) -> None: ...

class SetShareResponse(_message.Message):
    __slots__ = ("share",)
    SHARE_FIELD_NUMBER: _ClassVar[int]
    share: Share
    def __init__(self, share: _Optional[_Union[Share, _Mapping]] = ...) -> None: ...
