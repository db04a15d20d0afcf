//! `TaskBuilder`: name a task and choose its priority, then submit it, to
//! a given scheduler (`Scheduler::task`) or to the current one
//! (`task::builder`).

use crate::console::Origin;
use crate::context::{self, submit_with};
use crate::host::{Core, StdPlatform};
use echo_sched_core::{JoinHandle, Priority, SpawnWhenRoom, SubmitError, TaskName, TaskOptions};
use std::fmt;
use std::future::Future;

/// Sets a task's name and priority before submitting it.
///
/// Get one from [`Scheduler::task`](crate::Scheduler::task) (submits to that scheduler) or
/// [`task::builder`](crate::task::builder) (submits to the current one,
/// like [`spawn`](crate::spawn)). The name shows in
/// [`task::current`](crate::task::current) and, with the `tracing` feature,
/// on the task's span.
///
/// ```
/// use echo_std::{Priority, Scheduler};
/// let scheduler = Scheduler::builder().worker_count(1).build().unwrap();
/// let handle = scheduler
///     .task()
///     .name("index")
///     .priority(Priority::Low)
///     .submit(async { echo_std::task::current().unwrap().name().map(str::to_owned) });
/// assert_eq!(scheduler.block_on(handle).unwrap().as_deref(), Some("index"));
/// ```
#[must_use = "a task builder does nothing until a submit method is called"]
pub struct TaskBuilder<'a> {
    /// The target scheduler's core (`Scheduler::task`), or `None` for the
    /// calling thread's current scheduler (`task::builder`).
    core: Option<&'a Core>,
    options: TaskOptions,
}

impl<'a> TaskBuilder<'a> {
    pub(crate) fn new(core: Option<&'a Core>) -> Self {
        TaskBuilder {
            core,
            options: TaskOptions::default(),
        }
    }

    /// Names the task. The name shows in
    /// [`task::current`](crate::task::current) and, with the `tracing`
    /// feature, on the task's span.
    ///
    /// ```
    /// use echo_std::Scheduler;
    /// let scheduler = Scheduler::builder().worker_count(1).build()?;
    /// let handle = scheduler.task().name("thumbnail").submit(async {
    ///     echo_std::task::current().unwrap().name().map(str::to_owned)
    /// });
    /// assert_eq!(scheduler.block_on(handle)?.as_deref(), Some("thumbnail"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(mut self, name: impl Into<TaskName>) -> Self {
        self.options.name = Some(name.into());
        self
    }

    /// Sets the priority (default Normal).
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// let scheduler = Scheduler::builder().worker_count(1).build()?;
    /// let urgent = scheduler.task().priority(Priority::High).submit(async {
    ///     echo_std::task::current().unwrap().priority()
    /// });
    /// assert_eq!(scheduler.block_on(urgent)?, Priority::High);
    /// let default = scheduler.task().submit(async { echo_std::task::current().unwrap().priority() });
    /// assert_eq!(scheduler.block_on(default)?, Priority::Normal);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn priority(mut self, priority: Priority) -> Self {
        self.options.priority = priority;
        self
    }

    /// Runs `f` with the target scheduler's core.
    fn with_core<R>(&self, f: impl FnOnce(&Core) -> R) -> R {
        match self.core {
            Some(core) => f(core),
            None => context::with_core(f),
        }
    }

    /// Submits the task, as [`Scheduler::submit`](crate::Scheduler::submit) does: outside the pool
    /// and at the bound on live tasks, it blocks until there is room; after
    /// shutdown, or without memory for the task, the handle resolves to a
    /// cancelled error.
    ///
    /// # Panics
    ///
    /// From [`task::builder`](crate::task::builder), if the calling thread
    /// has no current scheduler.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// let scheduler = Scheduler::builder().worker_count(1).build()?;
    /// let parent = scheduler.submit(async {
    ///     // Inside a task: the builder submits to the current scheduler.
    ///     let child = echo_std::task::builder().name("child").priority(Priority::Low).submit(async { 2 });
    ///     child.await.unwrap() + 1
    /// }, Priority::Normal);
    /// assert_eq!(scheduler.block_on(parent)?, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn submit<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let options = self.options.clone();
        let origin = Origin::here();
        self.with_core(|core| submit_with(core, future, options, origin))
    }

    /// Submits the task without ever waiting, as
    /// [`Scheduler::try_submit`](crate::Scheduler::try_submit) does.
    ///
    /// # Errors
    ///
    /// A [`SubmitError`] holding the future if the scheduler has shut down,
    /// if the bound on live tasks is reached and the caller is outside the
    /// pool, or if there is no memory for the task.
    ///
    /// # Panics
    ///
    /// From [`task::builder`](crate::task::builder), if the calling thread
    /// has no current scheduler.
    ///
    /// ```
    /// use echo_std::Scheduler;
    /// let scheduler = Scheduler::builder().worker_count(1).build()?;
    /// let handle = scheduler.task().name("ok").try_submit(async { 1 }).map_err(|e| e.to_string())?;
    /// assert_eq!(scheduler.block_on(handle)?, 1);
    /// scheduler.shutdown();
    /// let refused = scheduler.task().name("late").try_submit(async { 2 }).unwrap_err();
    /// assert!(refused.is_shutdown());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn try_submit<F>(self, future: F) -> Result<JoinHandle<F::Output>, SubmitError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let options = self.options.clone();
        self.with_core(|core| core.try_spawn_with(future, options))
    }

    /// Submits the task once there is room under the bound, waiting
    /// asynchronously; see [`Scheduler::submit_async`](crate::Scheduler::submit_async).
    ///
    /// # Errors
    ///
    /// The returned future resolves to a [`SubmitError`] holding the future
    /// if the scheduler shuts down before there is room, or if there is no
    /// memory for the task.
    ///
    /// # Panics
    ///
    /// From [`task::builder`](crate::task::builder), if the calling thread
    /// has no current scheduler.
    ///
    /// ```
    /// use echo_std::{Priority, Scheduler};
    /// let scheduler = Scheduler::builder().worker_count(1).max_tasks(8).build()?;
    /// let admitted = scheduler.block_on(scheduler.task().name("import").priority(Priority::Low).submit_async(async { 5 }));
    /// let handle = admitted.map_err(|e| e.to_string())?;
    /// assert_eq!(scheduler.block_on(handle)?, 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn submit_async<F>(self, future: F) -> SpawnWhenRoom<F, StdPlatform>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let options = self.options.clone();
        self.with_core(|core| core.spawn_when_room(future, options))
    }
}

impl fmt::Debug for TaskBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskBuilder")
            .field("name", &self.options.name)
            .field("priority", &self.options.priority)
            .finish()
    }
}

/// A [`TaskBuilder`] that submits to the current
/// scheduler (the one running the calling task, or the enclosing
/// `block_on`'s).
///
/// ```
/// use echo_std::{Priority, Scheduler};
/// let scheduler = Scheduler::builder().worker_count(1).build().unwrap();
/// let name = scheduler.block_on(async {
///     let child = echo_std::task::builder()
///         .name("child")
///         .priority(Priority::High)
///         .submit(async { echo_std::task::current().unwrap().name().map(str::to_owned) });
///     child.await.unwrap()
/// });
/// assert_eq!(name.as_deref(), Some("child"));
/// ```
pub fn builder() -> TaskBuilder<'static> {
    TaskBuilder::new(None)
}
