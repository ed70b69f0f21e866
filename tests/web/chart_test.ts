// The stores-per-minute chart: one bar per busy minute, scaled to a round maximum.
import assert from "node:assert/strict";
import { storesChart } from "../../src/web/chart.ts";

const render = async (perMinute: number[]) => String(await storesChart(perMinute));

Deno.test("storesChart() draws a bar per minute that stored something, titled with its age", async () => {
  const minutes = new Array<number>(60).fill(0);
  minutes[59] = 3; // this minute
  minutes[49] = 7; // ten minutes ago
  const svg = await render(minutes);
  assert.equal(svg.match(/<rect /g)?.length, 2, "idle minutes draw nothing");
  assert.match(svg, /<title>3 stored this minute<\/title>/);
  assert.match(svg, /<title>7 stored 10 min ago<\/title>/);
  assert.match(svg, /aria-label="10 objects stored in the last hour"/);
});

Deno.test("storesChart() labels the axis with a round maximum at least the busiest minute", async () => {
  const axisMax = async (n: number) => {
    const svg = await render([0, n]);
    return Number(svg.match(/text-anchor="end">(\d+)<\/text>/)![1]);
  };
  assert.equal(await axisMax(0), 1);
  assert.equal(await axisMax(1), 1);
  assert.equal(await axisMax(3), 5);
  assert.equal(await axisMax(7), 10);
  assert.equal(await axisMax(101), 200);
});

Deno.test("storesChart() of an idle hour is an empty plot, no bars", async () => {
  const svg = await render(new Array<number>(60).fill(0));
  assert.doesNotMatch(svg, /<rect /);
  assert.match(svg, /aria-label="0 objects stored in the last hour"/);
});
