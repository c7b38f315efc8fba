import dev.rq.data.loader.LoaderBenchmark;

/**
 * One loader-speed measurement for scripts/loader-speed-ab.sh: compiled and run against either
 * build (the method exists with this signature before and after the streaming loader).
 * Prints: name decode_1thread_img_s loader_img_s threads.
 */
public class LoaderSpeed {
    public static void main(String[] args) throws Exception {
        String split = args[0];
        int threads = Integer.parseInt(args[1]);
        int reps = Integer.parseInt(args[2]);
        LoaderBenchmark.Result r = LoaderBenchmark.measureSplit(split, 256, threads, reps);
        System.out.printf("RESULT %s %.1f %.1f %d%n", args[3], r.perSecondOneThread(), r.perSecondAllThreads(),
                r.threads());
    }
}
