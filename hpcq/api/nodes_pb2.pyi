from hpcq.api import jobs_pb2 as _jobs_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Gpu(_message.Message):
    __slots__ = ("index", "model", "memory_mb", "uuid")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    index: int
    model: str
    memory_mb: int
    uuid: str
    def __init__(self, index: _Optional[int] = ..., model: _Optional[str] = ..., memory_mb: _Optional[int] = ..., uuid: _Optional[str] = ...) -> None: ...

class Hardware(_message.Message):
    __slots__ = ("hostname", "cpus", "physical_cores", "memory_mb", "gpus", "os", "features", "enforcement")
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    CPUS_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_CORES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    ENFORCEMENT_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    cpus: int
    physical_cores: int
    memory_mb: int
    gpus: _containers.RepeatedCompositeFieldContainer[Gpu]
    os: str
    features: _containers.RepeatedScalarFieldContainer[str]
    enforcement: str
    def __init__(self, hostname: _Optional[str] = ..., cpus: _Optional[int] = ..., physical_cores: _Optional[int] = ..., memory_mb: _Optional[int] = ..., gpus: _Optional[_Iterable[_Union[Gpu, _Mapping]]] = ..., os: _Optional[str] = ..., features: _Optional[_Iterable[str]] = ..., enforcement: _Optional[str] = ...) -> None: ...

class Load(_message.Message):
    __slots__ = ("load_1m", "free_memory_mb")
    LOAD_1M_FIELD_NUMBER: _ClassVar[int]
    FREE_MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    load_1m: float
    free_memory_mb: int
    def __init__(self, load_1m: _Optional[float] = ..., free_memory_mb: _Optional[int] = ...) -> None: ...

class JobOutcome(_message.Message):
    __slots__ = ("job_id", "attempt", "running", "state", "exit_code", "signal", "start_time", "end_time", "session_id", "cpu_seconds", "max_rss_kb", "reason", "user_cpu_seconds", "system_cpu_seconds")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_RSS_KB_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    USER_CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    attempt: int
    running: bool
    state: _jobs_pb2.JobState
    exit_code: int
    signal: int
    start_time: float
    end_time: float
    session_id: int
    cpu_seconds: float
    max_rss_kb: int
    reason: str
    user_cpu_seconds: float
    system_cpu_seconds: float
    def __init__(self, job_id: _Optional[int] = ..., attempt: _Optional[int] = ..., running: _Optional[bool] = ..., state: _Optional[_Union[_jobs_pb2.JobState, str]] = ..., exit_code: _Optional[int] = ..., signal: _Optional[int] = ..., start_time: _Optional[float] = ..., end_time: _Optional[float] = ..., session_id: _Optional[int] = ..., cpu_seconds: _Optional[float] = ..., max_rss_kb: _Optional[int] = ..., reason: _Optional[str] = ..., user_cpu_seconds: _Optional[float] = ..., system_cpu_seconds: _Optional[float] = ...) -> None: ...

class Register(_message.Message):
    __slots__ = ("name", "hardware", "jobs", "version", "batches")
    NAME_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    name: str
    hardware: Hardware
    jobs: _containers.RepeatedCompositeFieldContainer[JobOutcome]
    version: str
    batches: bool
    def __init__(self, name: _Optional[str] = ..., hardware: _Optional[_Union[Hardware, _Mapping]] = ..., jobs: _Optional[_Iterable[_Union[JobOutcome, _Mapping]]] = ..., version: _Optional[str] = ..., batches: _Optional[bool] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("load", "usage")
    LOAD_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    load: Load
    usage: _containers.RepeatedCompositeFieldContainer[_jobs_pb2.JobUsage]
    def __init__(self, load: _Optional[_Union[Load, _Mapping]] = ..., usage: _Optional[_Iterable[_Union[_jobs_pb2.JobUsage, _Mapping]]] = ...) -> None: ...

class NodeMessage(_message.Message):
    __slots__ = ("register", "heartbeat", "job_started", "job_finished", "step_tasks_ended", "output", "outcomes")
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    JOB_STARTED_FIELD_NUMBER: _ClassVar[int]
    JOB_FINISHED_FIELD_NUMBER: _ClassVar[int]
    STEP_TASKS_ENDED_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    register: Register
    heartbeat: Heartbeat
    job_started: JobOutcome
    job_finished: JobOutcome
    step_tasks_ended: StepTasksEnded
    output: OutputData
    outcomes: JobOutcomes
    def __init__(self, register: _Optional[_Union[Register, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., job_started: _Optional[_Union[JobOutcome, _Mapping]] = ..., job_finished: _Optional[_Union[JobOutcome, _Mapping]] = ..., step_tasks_ended: _Optional[_Union[StepTasksEnded, _Mapping]] = ..., output: _Optional[_Union[OutputData, _Mapping]] = ..., outcomes: _Optional[_Union[JobOutcomes, _Mapping]] = ...) -> None: ...

class JobOutcomes(_message.Message):
    __slots__ = ("started", "finished")
    STARTED_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    started: _containers.RepeatedCompositeFieldContainer[JobOutcome]
    finished: _containers.RepeatedCompositeFieldContainer[JobOutcome]
    def __init__(self, started: _Optional[_Iterable[_Union[JobOutcome, _Mapping]]] = ..., finished: _Optional[_Iterable[_Union[JobOutcome, _Mapping]]] = ...) -> None: ...

class OutputData(_message.Message):
    __slots__ = ("request_id", "data", "offset", "ended", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    ENDED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    data: bytes
    offset: int
    ended: bool
    error: str
    def __init__(self, request_id: _Optional[int] = ..., data: _Optional[bytes] = ..., offset: _Optional[int] = ..., ended: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class StepTasksEnded(_message.Message):
    __slots__ = ("job_id", "attempt", "step_id", "tasks")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    attempt: int
    step_id: int
    tasks: _containers.RepeatedCompositeFieldContainer[_jobs_pb2.TaskExit]
    def __init__(self, job_id: _Optional[int] = ..., attempt: _Optional[int] = ..., step_id: _Optional[int] = ..., tasks: _Optional[_Iterable[_Union[_jobs_pb2.TaskExit, _Mapping]]] = ...) -> None: ...

class Launch(_message.Message):
    __slots__ = ("job", "cluster", "kill_grace_seconds", "forget")
    JOB_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    KILL_GRACE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FORGET_FIELD_NUMBER: _ClassVar[int]
    job: _jobs_pb2.Job
    cluster: str
    kill_grace_seconds: int
    forget: _containers.RepeatedCompositeFieldContainer[Forget]
    def __init__(self, job: _Optional[_Union[_jobs_pb2.Job, _Mapping]] = ..., cluster: _Optional[str] = ..., kill_grace_seconds: _Optional[int] = ..., forget: _Optional[_Iterable[_Union[Forget, _Mapping]]] = ...) -> None: ...

class SignalJob(_message.Message):
    __slots__ = ("job_id", "attempt", "signal")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    attempt: int
    signal: int
    def __init__(self, job_id: _Optional[int] = ..., attempt: _Optional[int] = ..., signal: _Optional[int] = ...) -> None: ...

class KillJob(_message.Message):
    __slots__ = ("job_id", "attempt", "grace_seconds")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    GRACE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    attempt: int
    grace_seconds: int
    def __init__(self, job_id: _Optional[int] = ..., attempt: _Optional[int] = ..., grace_seconds: _Optional[int] = ...) -> None: ...

class Registered(_message.Message):
    __slots__ = ("heartbeat_seconds", "controller_epoch", "batches")
    HEARTBEAT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CONTROLLER_EPOCH_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    heartbeat_seconds: float
    controller_epoch: int
    batches: bool
    def __init__(self, heartbeat_seconds: _Optional[float] = ..., controller_epoch: _Optional[int] = ..., batches: _Optional[bool] = ...) -> None: ...

class ReadOutput(_message.Message):
    __slots__ = ("request_id", "job_id", "attempt", "step_id", "stderr", "offset", "max_bytes")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    job_id: int
    attempt: int
    step_id: int
    stderr: bool
    offset: int
    max_bytes: int
    def __init__(self, request_id: _Optional[int] = ..., job_id: _Optional[int] = ..., attempt: _Optional[int] = ..., step_id: _Optional[int] = ..., stderr: _Optional[bool] = ..., offset: _Optional[int] = ..., max_bytes: _Optional[int] = ...) -> None: ...

class SuspendJob(_message.Message):
    __slots__ = ("job_id", "attempt", "resume")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    RESUME_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    attempt: int
    resume: bool
    def __init__(self, job_id: _Optional[int] = ..., attempt: _Optional[int] = ..., resume: _Optional[bool] = ...) -> None: ...

class Forget(_message.Message):
    __slots__ = ("job_id", "attempt")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    attempt: int
    def __init__(self, job_id: _Optional[int] = ..., attempt: _Optional[int] = ...) -> None: ...

class CtldMessage(_message.Message):
    __slots__ = ("registered", "launch", "signal", "kill", "forget", "launch_step", "signal_step", "read_output", "suspend", "launches")
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    LAUNCH_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    KILL_FIELD_NUMBER: _ClassVar[int]
    FORGET_FIELD_NUMBER: _ClassVar[int]
    LAUNCH_STEP_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_STEP_FIELD_NUMBER: _ClassVar[int]
    READ_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    SUSPEND_FIELD_NUMBER: _ClassVar[int]
    LAUNCHES_FIELD_NUMBER: _ClassVar[int]
    registered: Registered
    launch: Launch
    signal: SignalJob
    kill: KillJob
    forget: Forget
    launch_step: LaunchStepTasks
    signal_step: SignalStepTasks
    read_output: ReadOutput
    suspend: SuspendJob
    launches: Launches
    def __init__(self, registered: _Optional[_Union[Registered, _Mapping]] = ..., launch: _Optional[_Union[Launch, _Mapping]] = ..., signal: _Optional[_Union[SignalJob, _Mapping]] = ..., kill: _Optional[_Union[KillJob, _Mapping]] = ..., forget: _Optional[_Union[Forget, _Mapping]] = ..., launch_step: _Optional[_Union[LaunchStepTasks, _Mapping]] = ..., signal_step: _Optional[_Union[SignalStepTasks, _Mapping]] = ..., read_output: _Optional[_Union[ReadOutput, _Mapping]] = ..., suspend: _Optional[_Union[SuspendJob, _Mapping]] = ..., launches: _Optional[_Union[Launches, _Mapping]] = ...) -> None: ...

class Launches(_message.Message):
    __slots__ = ("launch",)
    LAUNCH_FIELD_NUMBER: _ClassVar[int]
    launch: _containers.RepeatedCompositeFieldContainer[Launch]
    def __init__(self, launch: _Optional[_Iterable[_Union[Launch, _Mapping]]] = ...) -> None: ...

class LaunchStepTasks(_message.Message):
    __slots__ = ("job", "step", "launch")
    JOB_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    LAUNCH_FIELD_NUMBER: _ClassVar[int]
    job: _jobs_pb2.Job
    step: _jobs_pb2.JobStep
    launch: _jobs_pb2.StepLaunch
    def __init__(self, job: _Optional[_Union[_jobs_pb2.Job, _Mapping]] = ..., step: _Optional[_Union[_jobs_pb2.JobStep, _Mapping]] = ..., launch: _Optional[_Union[_jobs_pb2.StepLaunch, _Mapping]] = ...) -> None: ...

class SignalStepTasks(_message.Message):
    __slots__ = ("job_id", "attempt", "step_id", "signal")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    attempt: int
    step_id: int
    signal: int
    def __init__(self, job_id: _Optional[int] = ..., attempt: _Optional[int] = ..., step_id: _Optional[int] = ..., signal: _Optional[int] = ...) -> None: ...
