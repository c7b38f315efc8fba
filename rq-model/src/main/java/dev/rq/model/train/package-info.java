/**
 * The in-process training step: {@link dev.rq.model.train.StepLoop} (the one data-parallel
 * optimizer step every trainer runs, with a loss hook), {@link dev.rq.model.train.Adam}, {@link
 * dev.rq.model.train.LrSchedule}, and the stage-1 trainer {@link dev.rq.model.train.VaeTrainer}
 * with its {@link dev.rq.model.train.VaeStepMetrics}.
 */
package dev.rq.model.train;
