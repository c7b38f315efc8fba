package dev.rq.model.train;

import dev.rq.model.config.TrainConfig;

/**
 * Learning rate per optimizer step: linear warm-up from 0 to {@code lr} over {@code warmup_steps},
 * then constant or cosine decay to {@code min_lr} at {@code max_steps}. Steps count from 1: step
 * s of warm-up uses lr·s/warmup (the official scheduler's ramp, without its wasted lr=0 step).
 */
public record LrSchedule(double lr, int warmupSteps, String schedule, double minLr, int maxSteps) {

    public static LrSchedule of(TrainConfig c) {
        return new LrSchedule(c.lr(), c.warmupSteps(), c.schedule(), c.minLr(), c.maxSteps());
    }

    /** @return the learning rate of optimizer step {@code step} (1-based) */
    public double at(long step) {
        if (warmupSteps > 0 && step <= warmupSteps) {
            return lr * step / warmupSteps;
        }
        if (schedule.equals("cosine")) {
            double span = Math.max(1, maxSteps - warmupSteps);
            double t = Math.min(1.0, (step - warmupSteps) / span);
            return minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * t));
        }
        return lr;
    }
}
