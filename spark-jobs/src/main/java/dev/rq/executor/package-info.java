/**
 * What every job's tasks share on an executor: the one executor-wide model cache ({@link
 * dev.rq.executor.ExecutorModels}) and the device a task runs its model on ({@link
 * dev.rq.executor.TaskDevice}: the GPU Spark assigned to the task, else the CPU).
 */
package dev.rq.executor;
