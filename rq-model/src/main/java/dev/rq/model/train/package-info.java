/**
 * The in-process training loop: {@link dev.rq.model.train.VaeTrainer} (one optimizer step over a
 * rank's micro-batches), {@link dev.rq.model.train.Adam}, {@link dev.rq.model.train.LrSchedule}
 * and {@link dev.rq.model.train.StepMetrics}.
 */
package dev.rq.model.train;
