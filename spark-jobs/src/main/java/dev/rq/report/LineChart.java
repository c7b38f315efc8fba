package dev.rq.report;

import java.awt.Color;
import java.io.IOException;
import java.io.OutputStream;
import java.util.LinkedHashMap;
import java.util.Map;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * A line chart of named series against the step (loss curves, learning rate, codebook usage), as
 * a PNG, drawn with XChart. Works headless ({@code java.awt.headless} is set when unset).
 *
 * <pre>{@code
 * LineChart.of("stage-1 loss", "step", "loss")
 *         .add("recon", steps, recon)
 *         .add("commit", steps, commit)
 *         .logY(true)
 *         .writePng(out);
 * }</pre>
 */
public final class LineChart {

    /**
     * One series.
     *
     * @param x x values (steps)
     * @param y y values, same length; NaN values are skipped
     */
    public record Series(double[] x, double[] y) {
        public Series {
            if (x.length != y.length) {
                throw new IllegalArgumentException("x has " + x.length + " values, y has " + y.length);
            }
        }
    }

    private final String title;
    private final String xLabel;
    private final String yLabel;
    private final Map<String, Series> series = new LinkedHashMap<>();
    private int width = 800;
    private int height = 500;
    private boolean logY;

    private LineChart(String title, String xLabel, String yLabel) {
        this.title = title;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
    }

    /** A chart with a title and axis labels. */
    public static LineChart of(String title, String xLabel, String yLabel) {
        return new LineChart(title, xLabel, yLabel);
    }

    /** Adds (or replaces) a named series. */
    public LineChart add(String name, double[] x, double[] y) {
        series.put(name, new Series(x, y));
        return this;
    }

    /** Adds (or replaces) a named series with x = 0, 1, 2, …. */
    public LineChart add(String name, double[] y) {
        double[] x = new double[y.length];
        for (int i = 0; i < x.length; i++) {
            x[i] = i;
        }
        return add(name, x, y);
    }

    /** Sets the size in pixels (default 800×500). */
    public LineChart size(int w, int h) {
        if (w < 50 || h < 50) {
            throw new IllegalArgumentException("chart too small: " + w + "x" + h);
        }
        this.width = w;
        this.height = h;
        return this;
    }

    /** Logarithmic y axis (non-positive values are skipped). */
    public LineChart logY(boolean on) {
        this.logY = on;
        return this;
    }

    /** @return the series by name */
    public Map<String, Series> series() {
        return series;
    }

    /** @return the XChart chart (for further styling) */
    public XYChart toXChart() {
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true");
        }
        XYChart chart = new XYChartBuilder().width(width).height(height).title(title).xAxisTitle(xLabel)
                .yAxisTitle(yLabel).build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        chart.getStyler().setChartBackgroundColor(Color.WHITE);
        chart.getStyler().setYAxisLogarithmic(logY);
        chart.getStyler().setMarkerSize(0);
        boolean any = false;
        for (Map.Entry<String, Series> e : series.entrySet()) {
            double[][] xy = clean(e.getValue());
            if (xy[0].length == 0) {
                continue;
            }
            XYSeries s = chart.addSeries(e.getKey(), xy[0], xy[1]);
            s.setMarker(SeriesMarkers.NONE);
            any = true;
        }
        if (!any) { // XChart cannot draw an empty chart
            chart.addSeries("(no data)", new double[] {0}, new double[] {logY ? 1 : 0}).setMarker(SeriesMarkers.NONE);
        }
        return chart;
    }

    private double[][] clean(Series s) {
        int n = 0;
        for (int i = 0; i < s.x().length; i++) {
            if (ok(s.x()[i], s.y()[i])) {
                n++;
            }
        }
        double[] x = new double[n];
        double[] y = new double[n];
        int j = 0;
        for (int i = 0; i < s.x().length; i++) {
            if (ok(s.x()[i], s.y()[i])) {
                x[j] = s.x()[i];
                y[j++] = s.y()[i];
            }
        }
        return new double[][] {x, y};
    }

    private boolean ok(double x, double y) {
        return Double.isFinite(x) && Double.isFinite(y) && (!logY || y > 0);
    }

    /** Writes the chart as PNG. */
    public void writePng(OutputStream out) throws IOException {
        out.write(png());
    }

    /** @return the chart as PNG bytes */
    public byte[] png() throws IOException {
        return BitmapEncoder.getBitmapBytes(toXChart(), BitmapEncoder.BitmapFormat.PNG);
    }
}
