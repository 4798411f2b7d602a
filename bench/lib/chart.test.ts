import { Chart, escapeXml, niceStep, renderSvg } from './chart';
import { formatCount } from './report';

const chart = (a: number, b: number): Chart => ({
  title: 'locks <A & B>',
  panels: [{
    title: 'ops/s',
    format: formatCount,
    groups: [{ label: 'A', values: [{ system: 'HikariKeeper', value: a }, { system: 'etcd', value: b }] }],
  }],
});

describe('SVG chart', () => {
  test('one bar per system and group, labelled with its value, text escaped, colors by system', () => {
    const svg = renderSvg(chart(1_200, 800));
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('locks &lt;A &amp; B&gt;');
    expect(svg.match(/<rect [^>]*><title>/g)).toHaveLength(2);
    expect(svg).toContain('>1,200</text>');
    expect(svg).toContain('>800</text>');
    expect(svg).toContain('fill="#d94f1e"'); // HikariKeeper's color
    expect(svg).not.toContain('log scale');
  });

  test('a panel whose bars differ by more than 30× switches to a log scale', () => {
    expect(renderSvg(chart(100, 10_000))).toContain('log scale');
  });

  test('round tick steps and XML escaping', () => {
    expect(niceStep(1_000)).toBe(200);
    expect(niceStep(9)).toBe(2);
    expect(niceStep(0)).toBe(1);
    expect(escapeXml('"a" < b')).toBe('&quot;a&quot; &lt; b');
  });
});
