/**
 * What every job's tasks share on an executor: the one executor-wide model cache ({@link
 * dev.rq.executor.ExecutorModels}), the device a task runs its model on ({@link
 * dev.rq.executor.TaskDevice}: the GPU Spark assigned to the task, else the CPU), and the RQ-VAE
 * handle that the tokenize and decode tasks load through that cache ({@link
 * dev.rq.executor.RqVaeModel}).
 */
package dev.rq.executor;
