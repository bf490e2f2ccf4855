from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Dialect(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIALECT_UNSPECIFIED: _ClassVar[Dialect]
    DIALECT_PBS: _ClassVar[Dialect]
    DIALECT_SLURM: _ClassVar[Dialect]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    PENDING: _ClassVar[JobState]
    HELD: _ClassVar[JobState]
    WAITING: _ClassVar[JobState]
    RUNNING: _ClassVar[JobState]
    COMPLETING: _ClassVar[JobState]
    COMPLETED: _ClassVar[JobState]
    FAILED: _ClassVar[JobState]
    CANCELLED: _ClassVar[JobState]
    TIMEOUT: _ClassVar[JobState]
    NODE_FAIL: _ClassVar[JobState]
    OUT_OF_MEMORY: _ClassVar[JobState]
    SUSPENDED: _ClassVar[JobState]
DIALECT_UNSPECIFIED: Dialect
DIALECT_PBS: Dialect
DIALECT_SLURM: Dialect
JOB_STATE_UNSPECIFIED: JobState
PENDING: JobState
HELD: JobState
WAITING: JobState
RUNNING: JobState
COMPLETING: JobState
COMPLETED: JobState
FAILED: JobState
CANCELLED: JobState
TIMEOUT: JobState
NODE_FAIL: JobState
OUT_OF_MEMORY: JobState
SUSPENDED: JobState

class Resources(_message.Message):
    __slots__ = ("nodes", "tasks", "tasks_per_node", "cpus_per_task", "mem_per_node_mb", "mem_per_cpu_mb", "gpus_per_node", "features", "licenses", "exclusive", "exclude_nodes")
    class LicensesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NODES_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    TASKS_PER_NODE_FIELD_NUMBER: _ClassVar[int]
    CPUS_PER_TASK_FIELD_NUMBER: _ClassVar[int]
    MEM_PER_NODE_MB_FIELD_NUMBER: _ClassVar[int]
    MEM_PER_CPU_MB_FIELD_NUMBER: _ClassVar[int]
    GPUS_PER_NODE_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    LICENSES_FIELD_NUMBER: _ClassVar[int]
    EXCLUSIVE_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: int
    tasks: int
    tasks_per_node: int
    cpus_per_task: int
    mem_per_node_mb: int
    mem_per_cpu_mb: int
    gpus_per_node: int
    features: _containers.RepeatedScalarFieldContainer[str]
    licenses: _containers.ScalarMap[str, int]
    exclusive: bool
    exclude_nodes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, nodes: _Optional[int] = ..., tasks: _Optional[int] = ..., tasks_per_node: _Optional[int] = ..., cpus_per_task: _Optional[int] = ..., mem_per_node_mb: _Optional[int] = ..., mem_per_cpu_mb: _Optional[int] = ..., gpus_per_node: _Optional[int] = ..., features: _Optional[_Iterable[str]] = ..., licenses: _Optional[_Mapping[str, int]] = ..., exclusive: _Optional[bool] = ..., exclude_nodes: _Optional[_Iterable[str]] = ...) -> None: ...

class Dependency(_message.Message):
    __slots__ = ("kind", "job_ids", "tasks")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[Dependency.Kind]
        AFTER: _ClassVar[Dependency.Kind]
        AFTER_OK: _ClassVar[Dependency.Kind]
        AFTER_NOT_OK: _ClassVar[Dependency.Kind]
        AFTER_ANY: _ClassVar[Dependency.Kind]
        SINGLETON: _ClassVar[Dependency.Kind]
    KIND_UNSPECIFIED: Dependency.Kind
    AFTER: Dependency.Kind
    AFTER_OK: Dependency.Kind
    AFTER_NOT_OK: Dependency.Kind
    AFTER_ANY: Dependency.Kind
    SINGLETON: Dependency.Kind
    class Task(_message.Message):
        __slots__ = ("array_job_id", "task")
        ARRAY_JOB_ID_FIELD_NUMBER: _ClassVar[int]
        TASK_FIELD_NUMBER: _ClassVar[int]
        array_job_id: int
        task: int
        def __init__(self, array_job_id: _Optional[int] = ..., task: _Optional[int] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    kind: Dependency.Kind
    job_ids: _containers.RepeatedScalarFieldContainer[int]
    tasks: _containers.RepeatedCompositeFieldContainer[Dependency.Task]
    def __init__(self, kind: _Optional[_Union[Dependency.Kind, str]] = ..., job_ids: _Optional[_Iterable[int]] = ..., tasks: _Optional[_Iterable[_Union[Dependency.Task, _Mapping]]] = ...) -> None: ...

class RetryPolicy(_message.Message):
    __slots__ = ("max_attempts", "backoff_seconds", "max_backoff_seconds")
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_BACKOFF_SECONDS_FIELD_NUMBER: _ClassVar[int]
    max_attempts: int
    backoff_seconds: float
    max_backoff_seconds: float
    def __init__(self, max_attempts: _Optional[int] = ..., backoff_seconds: _Optional[float] = ..., max_backoff_seconds: _Optional[float] = ...) -> None: ...

class ArraySpec(_message.Message):
    __slots__ = ("max_running", "tasks", "task_count")
    MAX_RUNNING_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    TASK_COUNT_FIELD_NUMBER: _ClassVar[int]
    max_running: int
    tasks: str
    task_count: int
    def __init__(self, max_running: _Optional[int] = ..., tasks: _Optional[str] = ..., task_count: _Optional[int] = ...) -> None: ...

class JobSpec(_message.Message):
    __slots__ = ("dialect", "name", "queue", "account", "script", "argv", "interpreter", "submit_dir", "submit_host", "workdir", "stdout_path", "stderr_path", "join_output", "append_output", "environment", "resources", "walltime_seconds", "nice", "hold", "begin_time", "dependencies", "dependency_any", "array", "requeue", "comment", "mail_events", "mail_users", "umask", "kill_signal", "kill_signal_seconds", "attributes", "retry", "priority", "allocation")
    class EnvironmentEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DIALECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    SCRIPT_FIELD_NUMBER: _ClassVar[int]
    ARGV_FIELD_NUMBER: _ClassVar[int]
    INTERPRETER_FIELD_NUMBER: _ClassVar[int]
    SUBMIT_DIR_FIELD_NUMBER: _ClassVar[int]
    SUBMIT_HOST_FIELD_NUMBER: _ClassVar[int]
    WORKDIR_FIELD_NUMBER: _ClassVar[int]
    STDOUT_PATH_FIELD_NUMBER: _ClassVar[int]
    STDERR_PATH_FIELD_NUMBER: _ClassVar[int]
    JOIN_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    APPEND_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    WALLTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    NICE_FIELD_NUMBER: _ClassVar[int]
    HOLD_FIELD_NUMBER: _ClassVar[int]
    BEGIN_TIME_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCY_ANY_FIELD_NUMBER: _ClassVar[int]
    ARRAY_FIELD_NUMBER: _ClassVar[int]
    REQUEUE_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    MAIL_EVENTS_FIELD_NUMBER: _ClassVar[int]
    MAIL_USERS_FIELD_NUMBER: _ClassVar[int]
    UMASK_FIELD_NUMBER: _ClassVar[int]
    KILL_SIGNAL_FIELD_NUMBER: _ClassVar[int]
    KILL_SIGNAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    RETRY_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    ALLOCATION_FIELD_NUMBER: _ClassVar[int]
    dialect: Dialect
    name: str
    queue: str
    account: str
    script: str
    argv: _containers.RepeatedScalarFieldContainer[str]
    interpreter: str
    submit_dir: str
    submit_host: str
    workdir: str
    stdout_path: str
    stderr_path: str
    join_output: bool
    append_output: bool
    environment: _containers.ScalarMap[str, str]
    resources: Resources
    walltime_seconds: int
    nice: int
    hold: bool
    begin_time: float
    dependencies: _containers.RepeatedCompositeFieldContainer[Dependency]
    dependency_any: bool
    array: ArraySpec
    requeue: bool
    comment: str
    mail_events: str
    mail_users: str
    umask: int
    kill_signal: int
    kill_signal_seconds: int
    attributes: _containers.ScalarMap[str, str]
    retry: RetryPolicy
    priority: int
    allocation: bool
    def __init__(self, dialect: _Optional[_Union[Dialect, str]] = ..., name: _Optional[str] = ..., queue: _Optional[str] = ..., account: _Optional[str] = ..., script: _Optional[str] = ..., argv: _Optional[_Iterable[str]] = ..., interpreter: _Optional[str] = ..., submit_dir: _Optional[str] = ..., submit_host: _Optional[str] = ..., workdir: _Optional[str] = ..., stdout_path: _Optional[str] = ..., stderr_path: _Optional[str] = ..., join_output: _Optional[bool] = ..., append_output: _Optional[bool] = ..., environment: _Optional[_Mapping[str, str]] = ..., resources: _Optional[_Union[Resources, _Mapping]] = ..., walltime_seconds: _Optional[int] = ..., nice: _Optional[int] = ..., hold: _Optional[bool] = ..., begin_time: _Optional[float] = ..., dependencies: _Optional[_Iterable[_Union[Dependency, _Mapping]]] = ..., dependency_any: _Optional[bool] = ..., array: _Optional[_Union[ArraySpec, _Mapping]] = ..., requeue: _Optional[bool] = ..., comment: _Optional[str] = ..., mail_events: _Optional[str] = ..., mail_users: _Optional[str] = ..., umask: _Optional[int] = ..., kill_signal: _Optional[int] = ..., kill_signal_seconds: _Optional[int] = ..., attributes: _Optional[_Mapping[str, str]] = ..., retry: _Optional[_Union[RetryPolicy, _Mapping]] = ..., priority: _Optional[int] = ..., allocation: _Optional[bool] = ...) -> None: ...

class Allocation(_message.Message):
    __slots__ = ("slices",)
    class Slice(_message.Message):
        __slots__ = ("node", "cpus", "mem_mb", "gpus", "cpu_ids", "gpu_ids")
        NODE_FIELD_NUMBER: _ClassVar[int]
        CPUS_FIELD_NUMBER: _ClassVar[int]
        MEM_MB_FIELD_NUMBER: _ClassVar[int]
        GPUS_FIELD_NUMBER: _ClassVar[int]
        CPU_IDS_FIELD_NUMBER: _ClassVar[int]
        GPU_IDS_FIELD_NUMBER: _ClassVar[int]
        node: str
        cpus: int
        mem_mb: int
        gpus: int
        cpu_ids: _containers.RepeatedScalarFieldContainer[int]
        gpu_ids: _containers.RepeatedScalarFieldContainer[int]
        def __init__(self, node: _Optional[str] = ..., cpus: _Optional[int] = ..., mem_mb: _Optional[int] = ..., gpus: _Optional[int] = ..., cpu_ids: _Optional[_Iterable[int]] = ..., gpu_ids: _Optional[_Iterable[int]] = ...) -> None: ...
    SLICES_FIELD_NUMBER: _ClassVar[int]
    slices: _containers.RepeatedCompositeFieldContainer[Allocation.Slice]
    def __init__(self, slices: _Optional[_Iterable[_Union[Allocation.Slice, _Mapping]]] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "spec", "user", "state", "reason", "submit_time", "eligible_time", "start_time", "end_time", "allocation", "exit_code", "signal", "attempt", "priority", "walltime_seconds", "queue", "array_job_id", "array_task_id", "cancelled_by", "session_id", "cpu_seconds", "max_rss_kb", "planned_start_time", "admin_priority_set", "array_tasks_pending", "steps", "retry_time", "user_cpu_seconds", "system_cpu_seconds", "runs", "requeue_held", "action_keys")
    ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SUBMIT_TIME_FIELD_NUMBER: _ClassVar[int]
    ELIGIBLE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    ALLOCATION_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    WALLTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    ARRAY_JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ARRAY_TASK_ID_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_BY_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_RSS_KB_FIELD_NUMBER: _ClassVar[int]
    PLANNED_START_TIME_FIELD_NUMBER: _ClassVar[int]
    ADMIN_PRIORITY_SET_FIELD_NUMBER: _ClassVar[int]
    ARRAY_TASKS_PENDING_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    RETRY_TIME_FIELD_NUMBER: _ClassVar[int]
    USER_CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    REQUEUE_HELD_FIELD_NUMBER: _ClassVar[int]
    ACTION_KEYS_FIELD_NUMBER: _ClassVar[int]
    id: int
    spec: JobSpec
    user: str
    state: JobState
    reason: str
    submit_time: float
    eligible_time: float
    start_time: float
    end_time: float
    allocation: Allocation
    exit_code: int
    signal: int
    attempt: int
    priority: int
    walltime_seconds: int
    queue: str
    array_job_id: int
    array_task_id: int
    cancelled_by: str
    session_id: int
    cpu_seconds: float
    max_rss_kb: int
    planned_start_time: float
    admin_priority_set: bool
    array_tasks_pending: str
    steps: _containers.RepeatedCompositeFieldContainer[JobStep]
    retry_time: float
    user_cpu_seconds: float
    system_cpu_seconds: float
    runs: _containers.RepeatedCompositeFieldContainer[JobRun]
    requeue_held: bool
    action_keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[int] = ..., spec: _Optional[_Union[JobSpec, _Mapping]] = ..., user: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., reason: _Optional[str] = ..., submit_time: _Optional[float] = ..., eligible_time: _Optional[float] = ..., start_time: _Optional[float] = ..., end_time: _Optional[float] = ..., allocation: _Optional[_Union[Allocation, _Mapping]] = ..., exit_code: _Optional[int] = ..., signal: _Optional[int] = ..., attempt: _Optional[int] = ..., priority: _Optional[int] = ..., walltime_seconds: _Optional[int] = ..., queue: _Optional[str] = ..., array_job_id: _Optional[int] = ..., array_task_id: _Optional[int] = ..., cancelled_by: _Optional[str] = ..., session_id: _Optional[int] = ..., cpu_seconds: _Optional[float] = ..., max_rss_kb: _Optional[int] = ..., planned_start_time: _Optional[float] = ..., admin_priority_set: _Optional[bool] = ..., array_tasks_pending: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[JobStep, _Mapping]]] = ..., retry_time: _Optional[float] = ..., user_cpu_seconds: _Optional[float] = ..., system_cpu_seconds: _Optional[float] = ..., runs: _Optional[_Iterable[_Union[JobRun, _Mapping]]] = ..., requeue_held: _Optional[bool] = ..., action_keys: _Optional[_Iterable[str]] = ...) -> None: ...

class JobRun(_message.Message):
    __slots__ = ("attempt", "state", "reason", "start_time", "end_time", "exit_code", "signal", "allocation", "cpu_seconds", "max_rss_kb")
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    ALLOCATION_FIELD_NUMBER: _ClassVar[int]
    CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_RSS_KB_FIELD_NUMBER: _ClassVar[int]
    attempt: int
    state: JobState
    reason: str
    start_time: float
    end_time: float
    exit_code: int
    signal: int
    allocation: Allocation
    cpu_seconds: float
    max_rss_kb: int
    def __init__(self, attempt: _Optional[int] = ..., state: _Optional[_Union[JobState, str]] = ..., reason: _Optional[str] = ..., start_time: _Optional[float] = ..., end_time: _Optional[float] = ..., exit_code: _Optional[int] = ..., signal: _Optional[int] = ..., allocation: _Optional[_Union[Allocation, _Mapping]] = ..., cpu_seconds: _Optional[float] = ..., max_rss_kb: _Optional[int] = ...) -> None: ...

class JobStep(_message.Message):
    __slots__ = ("step_id", "name", "ntasks", "cpus_per_task", "nodes", "tasks_per_node", "state", "start_time", "end_time", "exit_code", "signal", "attempt", "cpus", "cpu_seconds", "max_rss_kb", "launch_node", "remote_exits")
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NTASKS_FIELD_NUMBER: _ClassVar[int]
    CPUS_PER_TASK_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    TASKS_PER_NODE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    CPUS_FIELD_NUMBER: _ClassVar[int]
    CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_RSS_KB_FIELD_NUMBER: _ClassVar[int]
    LAUNCH_NODE_FIELD_NUMBER: _ClassVar[int]
    REMOTE_EXITS_FIELD_NUMBER: _ClassVar[int]
    step_id: int
    name: str
    ntasks: int
    cpus_per_task: int
    nodes: _containers.RepeatedScalarFieldContainer[str]
    tasks_per_node: _containers.RepeatedScalarFieldContainer[int]
    state: JobState
    start_time: float
    end_time: float
    exit_code: int
    signal: int
    attempt: int
    cpus: int
    cpu_seconds: float
    max_rss_kb: int
    launch_node: str
    remote_exits: _containers.RepeatedCompositeFieldContainer[TaskExit]
    def __init__(self, step_id: _Optional[int] = ..., name: _Optional[str] = ..., ntasks: _Optional[int] = ..., cpus_per_task: _Optional[int] = ..., nodes: _Optional[_Iterable[str]] = ..., tasks_per_node: _Optional[_Iterable[int]] = ..., state: _Optional[_Union[JobState, str]] = ..., start_time: _Optional[float] = ..., end_time: _Optional[float] = ..., exit_code: _Optional[int] = ..., signal: _Optional[int] = ..., attempt: _Optional[int] = ..., cpus: _Optional[int] = ..., cpu_seconds: _Optional[float] = ..., max_rss_kb: _Optional[int] = ..., launch_node: _Optional[str] = ..., remote_exits: _Optional[_Iterable[_Union[TaskExit, _Mapping]]] = ...) -> None: ...

class TaskExit(_message.Message):
    __slots__ = ("rank", "node", "wait_status")
    RANK_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    WAIT_STATUS_FIELD_NUMBER: _ClassVar[int]
    rank: int
    node: str
    wait_status: int
    def __init__(self, rank: _Optional[int] = ..., node: _Optional[str] = ..., wait_status: _Optional[int] = ...) -> None: ...

class StepLaunch(_message.Message):
    __slots__ = ("launch_node", "argv", "environment", "cwd", "output", "error", "input", "open_mode", "cpu_bind")
    class EnvironmentEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    LAUNCH_NODE_FIELD_NUMBER: _ClassVar[int]
    ARGV_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    CWD_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OPEN_MODE_FIELD_NUMBER: _ClassVar[int]
    CPU_BIND_FIELD_NUMBER: _ClassVar[int]
    launch_node: str
    argv: _containers.RepeatedScalarFieldContainer[str]
    environment: _containers.ScalarMap[str, str]
    cwd: str
    output: str
    error: str
    input: str
    open_mode: str
    cpu_bind: str
    def __init__(self, launch_node: _Optional[str] = ..., argv: _Optional[_Iterable[str]] = ..., environment: _Optional[_Mapping[str, str]] = ..., cwd: _Optional[str] = ..., output: _Optional[str] = ..., error: _Optional[str] = ..., input: _Optional[str] = ..., open_mode: _Optional[str] = ..., cpu_bind: _Optional[str] = ...) -> None: ...

class SubmitRequest(_message.Message):
    __slots__ = ("specs", "test_only", "idempotency_key")
    SPECS_FIELD_NUMBER: _ClassVar[int]
    TEST_ONLY_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    specs: _containers.RepeatedCompositeFieldContainer[JobSpec]
    test_only: bool
    idempotency_key: str
    def __init__(self, specs: _Optional[_Iterable[_Union[JobSpec, _Mapping]]] = ..., test_only: _Optional[bool] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class SubmitResponse(_message.Message):
    __slots__ = ("job_ids", "cluster", "repeated_submit")
    JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    REPEATED_SUBMIT_FIELD_NUMBER: _ClassVar[int]
    job_ids: _containers.RepeatedScalarFieldContainer[int]
    cluster: str
    repeated_submit: bool
    def __init__(self, job_ids: _Optional[_Iterable[int]] = ..., cluster: _Optional[str] = ..., repeated_submit: _Optional[bool] = ...) -> None: ...

class ArrayTaskRef(_message.Message):
    __slots__ = ("array_job_id", "task")
    ARRAY_JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    array_job_id: int
    task: int
    def __init__(self, array_job_id: _Optional[int] = ..., task: _Optional[int] = ...) -> None: ...

class GetJobsRequest(_message.Message):
    __slots__ = ("job_ids",)
    JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    job_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, job_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class GetJobsResponse(_message.Message):
    __slots__ = ("jobs", "unknown_ids", "cluster", "more_ids")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_IDS_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    MORE_IDS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    unknown_ids: _containers.RepeatedScalarFieldContainer[int]
    cluster: str
    more_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., unknown_ids: _Optional[_Iterable[int]] = ..., cluster: _Optional[str] = ..., more_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("states", "users", "queues", "names", "include_finished", "ended_after", "page_size", "page_token")
    STATES_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FINISHED_FIELD_NUMBER: _ClassVar[int]
    ENDED_AFTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    states: _containers.RepeatedScalarFieldContainer[JobState]
    users: _containers.RepeatedScalarFieldContainer[str]
    queues: _containers.RepeatedScalarFieldContainer[str]
    names: _containers.RepeatedScalarFieldContainer[str]
    include_finished: bool
    ended_after: float
    page_size: int
    page_token: str
    def __init__(self, states: _Optional[_Iterable[_Union[JobState, str]]] = ..., users: _Optional[_Iterable[str]] = ..., queues: _Optional[_Iterable[str]] = ..., names: _Optional[_Iterable[str]] = ..., include_finished: _Optional[bool] = ..., ended_after: _Optional[float] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token", "cluster")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    cluster: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., cluster: _Optional[str] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("job_ids", "send_initial", "finished_after")
    JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    SEND_INITIAL_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AFTER_FIELD_NUMBER: _ClassVar[int]
    job_ids: _containers.RepeatedScalarFieldContainer[int]
    send_initial: bool
    finished_after: float
    def __init__(self, job_ids: _Optional[_Iterable[int]] = ..., send_initial: _Optional[bool] = ..., finished_after: _Optional[float] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class JobActionRequest(_message.Message):
    __slots__ = ("job_ids", "signal", "admin", "tasks", "hold", "idempotency_key")
    JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    HOLD_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    job_ids: _containers.RepeatedScalarFieldContainer[int]
    signal: int
    admin: bool
    tasks: _containers.RepeatedCompositeFieldContainer[ArrayTaskRef]
    hold: bool
    idempotency_key: str
    def __init__(self, job_ids: _Optional[_Iterable[int]] = ..., signal: _Optional[int] = ..., admin: _Optional[bool] = ..., tasks: _Optional[_Iterable[_Union[ArrayTaskRef, _Mapping]]] = ..., hold: _Optional[bool] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class JobActionResult(_message.Message):
    __slots__ = ("job_id", "task", "code", "message")
    class Code(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OK: _ClassVar[JobActionResult.Code]
        UNKNOWN_JOB: _ClassVar[JobActionResult.Code]
        FINISHED: _ClassVar[JobActionResult.Code]
        NOT_PERMITTED: _ClassVar[JobActionResult.Code]
        INVALID_STATE: _ClassVar[JobActionResult.Code]
    OK: JobActionResult.Code
    UNKNOWN_JOB: JobActionResult.Code
    FINISHED: JobActionResult.Code
    NOT_PERMITTED: JobActionResult.Code
    INVALID_STATE: JobActionResult.Code
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    task: ArrayTaskRef
    code: JobActionResult.Code
    message: str
    def __init__(self, job_id: _Optional[int] = ..., task: _Optional[_Union[ArrayTaskRef, _Mapping]] = ..., code: _Optional[_Union[JobActionResult.Code, str]] = ..., message: _Optional[str] = ...) -> None: ...

class JobActionResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[JobActionResult]
    def __init__(self, results: _Optional[_Iterable[_Union[JobActionResult, _Mapping]]] = ...) -> None: ...

class UpdateJobRequest(_message.Message):
    __slots__ = ("job_id", "spec", "fields", "task")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    spec: JobSpec
    fields: _containers.RepeatedScalarFieldContainer[str]
    task: ArrayTaskRef
    def __init__(self, job_id: _Optional[int] = ..., spec: _Optional[_Union[JobSpec, _Mapping]] = ..., fields: _Optional[_Iterable[str]] = ..., task: _Optional[_Union[ArrayTaskRef, _Mapping]] = ...) -> None: ...

class UpdateJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class AllocateRequest(_message.Message):
    __slots__ = ("spec", "idempotency_key", "release", "exit_code")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    spec: JobSpec
    idempotency_key: str
    release: bool
    exit_code: int
    def __init__(self, spec: _Optional[_Union[JobSpec, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., release: _Optional[bool] = ..., exit_code: _Optional[int] = ...) -> None: ...

class AllocateEvent(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class OutputRequest(_message.Message):
    __slots__ = ("job_id", "step_id", "stderr", "follow", "offset", "after_end")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    AFTER_END_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    step_id: int
    stderr: bool
    follow: bool
    offset: int
    after_end: bool
    def __init__(self, job_id: _Optional[int] = ..., step_id: _Optional[int] = ..., stderr: _Optional[bool] = ..., follow: _Optional[bool] = ..., offset: _Optional[int] = ..., after_end: _Optional[bool] = ...) -> None: ...

class OutputChunk(_message.Message):
    __slots__ = ("data", "offset")
    DATA_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    offset: int
    def __init__(self, data: _Optional[bytes] = ..., offset: _Optional[int] = ...) -> None: ...

class JobUsage(_message.Message):
    __slots__ = ("job_id", "attempt", "node", "cpu_seconds", "user_cpu_seconds", "system_cpu_seconds", "rss_kb", "max_rss_kb", "sample_time")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    USER_CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RSS_KB_FIELD_NUMBER: _ClassVar[int]
    MAX_RSS_KB_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_TIME_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    attempt: int
    node: str
    cpu_seconds: float
    user_cpu_seconds: float
    system_cpu_seconds: float
    rss_kb: int
    max_rss_kb: int
    sample_time: float
    def __init__(self, job_id: _Optional[int] = ..., attempt: _Optional[int] = ..., node: _Optional[str] = ..., cpu_seconds: _Optional[float] = ..., user_cpu_seconds: _Optional[float] = ..., system_cpu_seconds: _Optional[float] = ..., rss_kb: _Optional[int] = ..., max_rss_kb: _Optional[int] = ..., sample_time: _Optional[float] = ...) -> None: ...

class UsageRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    def __init__(self, job_id: _Optional[int] = ...) -> None: ...

class UsageResponse(_message.Message):
    __slots__ = ("running", "usage", "cluster")
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    running: bool
    usage: JobUsage
    cluster: str
    def __init__(self, running: _Optional[bool] = ..., usage: _Optional[_Union[JobUsage, _Mapping]] = ..., cluster: _Optional[str] = ...) -> None: ...

class CreateStepRequest(_message.Message):
    __slots__ = ("job_id", "name", "ntasks", "cpus_per_task", "nodes", "launch")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NTASKS_FIELD_NUMBER: _ClassVar[int]
    CPUS_PER_TASK_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    LAUNCH_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    name: str
    ntasks: int
    cpus_per_task: int
    nodes: int
    launch: StepLaunch
    def __init__(self, job_id: _Optional[int] = ..., name: _Optional[str] = ..., ntasks: _Optional[int] = ..., cpus_per_task: _Optional[int] = ..., nodes: _Optional[int] = ..., launch: _Optional[_Union[StepLaunch, _Mapping]] = ...) -> None: ...

class CreateStepResponse(_message.Message):
    __slots__ = ("step", "job")
    STEP_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    step: JobStep
    job: Job
    def __init__(self, step: _Optional[_Union[JobStep, _Mapping]] = ..., job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class FinishStepRequest(_message.Message):
    __slots__ = ("job_id", "step_id", "exit_code", "signal", "cancelled", "cpu_seconds", "max_rss_kb", "attempt")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_RSS_KB_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    step_id: int
    exit_code: int
    signal: int
    cancelled: bool
    cpu_seconds: float
    max_rss_kb: int
    attempt: int
    def __init__(self, job_id: _Optional[int] = ..., step_id: _Optional[int] = ..., exit_code: _Optional[int] = ..., signal: _Optional[int] = ..., cancelled: _Optional[bool] = ..., cpu_seconds: _Optional[float] = ..., max_rss_kb: _Optional[int] = ..., attempt: _Optional[int] = ...) -> None: ...

class FinishStepResponse(_message.Message):
    __slots__ = ("step",)
    STEP_FIELD_NUMBER: _ClassVar[int]
    step: JobStep
    def __init__(self, step: _Optional[_Union[JobStep, _Mapping]] = ...) -> None: ...

class ExplainRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    def __init__(self, job_id: _Optional[int] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ("job_id", "state", "reason", "priority", "factors", "contributions", "nice", "would_start", "planned_start_time", "planned_nodes", "detail", "lines")
    class FactorsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class ContributionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    FACTORS_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    NICE_FIELD_NUMBER: _ClassVar[int]
    WOULD_START_FIELD_NUMBER: _ClassVar[int]
    PLANNED_START_TIME_FIELD_NUMBER: _ClassVar[int]
    PLANNED_NODES_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    state: str
    reason: str
    priority: int
    factors: _containers.ScalarMap[str, float]
    contributions: _containers.ScalarMap[str, float]
    nice: int
    would_start: bool
    planned_start_time: float
    planned_nodes: _containers.RepeatedScalarFieldContainer[str]
    detail: str
    lines: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, job_id: _Optional[int] = ..., state: _Optional[str] = ..., reason: _Optional[str] = ..., priority: _Optional[int] = ..., factors: _Optional[_Mapping[str, float]] = ..., contributions: _Optional[_Mapping[str, float]] = ..., nice: _Optional[int] = ..., would_start: _Optional[bool] = ..., planned_start_time: _Optional[float] = ..., planned_nodes: _Optional[_Iterable[str]] = ..., detail: _Optional[str] = ..., lines: _Optional[_Iterable[str]] = ...) -> None: ...
