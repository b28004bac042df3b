/**
 * A small typed layer over the Grafana Foundation SDK: scop's dashboards are lists of rows of
 * panels, each panel a list of PromQL queries. The specs are plain data, so the end-to-end test
 * can run every query against a real Prometheus, and `toGrafana` turns a spec into the dashboard
 * JSON operators import (datasource chosen at import through the DS_PROMETHEUS variable).
 */
import { DashboardBuilder, DatasourceVariableBuilder, RowBuilder, type Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries';
import { LegendDisplayMode, LegendPlacement, StackingConfigBuilder, StackingMode, VizLegendOptionsBuilder } from '@grafana/grafana-foundation-sdk/common';

export interface Query {
  expr: string;
  /** Grafana legend template, e.g. "{{stage}} {{reason}}". */
  legend: string;
}

export interface PanelSpec {
  title: string;
  description: string;
  /** Grafana unit id: ops, s, short, bytes, percentunit, … */
  unit: string;
  queries: Query[];
  kind?: 'timeseries' | 'stat';
  stacked?: boolean;
  /** Grid columns out of 24 (default 12). */
  width?: number;
}

export interface RowSpec {
  title: string;
  panels: PanelSpec[];
}

export interface DashboardSpec {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  rows: RowSpec[];
}

/** The datasource every panel uses: a dashboard variable, so an import asks which Prometheus. */
export const DATASOURCE_VARIABLE = 'DS_PROMETHEUS';
const datasource = { type: 'prometheus', uid: `\${${DATASOURCE_VARIABLE}}` };

/** `rate(x[$__rate_interval])`: Grafana picks the window from the scrape interval. */
export const RATE = '$__rate_interval';

export const panel = (title: string, description: string, unit: string, queries: Query[], extra: Partial<PanelSpec> = {}): PanelSpec =>
  ({ title, description, unit, queries, ...extra });
export const q = (expr: string, legend: string): Query => ({ expr, legend });

function build(p: PanelSpec, id: number) {
  const targets = p.queries.map((x, i) =>
    new DataqueryBuilder().expr(x.expr).legendFormat(x.legend).refId(String.fromCharCode(65 + i)).datasource(datasource));
  if (p.kind === 'stat') {
    const b = new StatPanel().id(id).title(p.title).description(p.description).unit(p.unit).datasource(datasource).span(p.width ?? 6).height(5);
    for (const t of targets) b.withTarget(t);
    return b;
  }
  const b = new TimeseriesPanel().id(id).title(p.title).description(p.description).unit(p.unit).datasource(datasource)
    .span(p.width ?? 12).height(8).fillOpacity(p.stacked ? 30 : 10).lineWidth(1)
    .legend(new VizLegendOptionsBuilder().displayMode(LegendDisplayMode.List).placement(LegendPlacement.Bottom).showLegend(true).calcs([]));
  if (p.stacked) b.stacking(new StackingConfigBuilder().mode(StackingMode.Normal));
  for (const t of targets) b.withTarget(t);
  return b;
}

export function toGrafana(spec: DashboardSpec): Dashboard {
  const d = new DashboardBuilder(spec.title).uid(spec.uid).description(spec.description).tags(spec.tags)
    .refresh('30s').time({ from: 'now-1h', to: 'now' }).timezone('browser').editable()
    .withVariable(new DatasourceVariableBuilder(DATASOURCE_VARIABLE).label('Prometheus').type('prometheus'));
  let id = 1;
  for (const row of spec.rows) {
    d.withRow(new RowBuilder(row.title).id(id++));
    for (const p of row.panels) d.withPanel(build(p, id++));
  }
  return d.build();
}

/** Every query of a spec, with where it is: what the end-to-end test checks. */
export function queriesOf(spec: DashboardSpec): { where: string; expr: string }[] {
  return spec.rows.flatMap((r) => r.panels.flatMap((p) => p.queries.map((x) => ({ where: `${spec.uid} / ${r.title} / ${p.title} / ${x.legend}`, expr: x.expr }))));
}
