/*
 * dashboard_style — the look the dashboards share (the TaskExecutor's at GET / of its
 * status port, the JobManager's at GET / of its REST port): one <style> block as a
 * string literal macro, pasted into each page's literal, with colors per slot, task
 * and job state, light and dark. Every value a page shows reaches the DOM through
 * textContent; the style holds no url() and loads nothing.
 *
 * Threading: a compile-time constant.
 */
#ifndef TE_DASHBOARD_STYLE_H
#define TE_DASHBOARD_STYLE_H

/* clang-format off */
#define TE_DASHBOARD_STYLE \
    "<style>\n" \
    ":root {\n" \
    "  --bg: #f4f6f9; --panel: #ffffff; --text: #1d2430; --muted: #6a7383; --line: #e2e6ec;\n" \
    "  --free: #e9edf2; --free-text: #6a7383; --allocated: #f3b23c; --active: #2f80ed; --releasing: #9b59b6;\n" \
    "  --ok: #27ae60; --low: #f2a93b; --high: #e5484d; --bar: #e9edf2;\n" \
    "  --running: #2f80ed; --finished: #27ae60; --failed: #e5484d; --canceled: #8a94a6; --pending: #f2a93b;\n" \
    "}\n" \
    "@media (prefers-color-scheme: dark) {\n" \
    "  :root {\n" \
    "    --bg: #12161c; --panel: #1b2129; --text: #e4e8ee; --muted: #8d97a7; --line: #2a323d;\n" \
    "    --free: #252d37; --free-text: #8d97a7; --bar: #2a323d;\n" \
    "  }\n" \
    "}\n" \
    "* { box-sizing: border-box; }\n" \
    "body { margin: 0; background: var(--bg); color: var(--text);\n" \
    "  font: 14px/1.4 system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif; }\n" \
    "header { display: flex; align-items: center; gap: 18px; padding: 10px 24px; background: var(--panel);\n" \
    "  border-bottom: 1px solid var(--line); flex-wrap: wrap; }\n" \
    "header h1 { font-size: 18px; margin: 0; font-weight: 650; letter-spacing: .2px; }\n" \
    "header .ident { color: var(--muted); display: flex; gap: 16px; flex-wrap: wrap; }\n" \
    "header .ident b { color: var(--text); font-weight: 600; }\n" \
    "#conn { margin-left: auto; display: flex; align-items: center; gap: 6px; color: var(--muted); }\n" \
    "#conn .dot { width: 10px; height: 10px; border-radius: 50%; background: var(--canceled); }\n" \
    "#conn.live .dot { background: var(--ok); }\n" \
    "#conn.down .dot { background: var(--high); }\n" \
    "#conn.down { color: var(--high); }\n" \
    "main { padding: 16px 24px 32px; max-width: 1600px; margin: 0 auto; }\n" \
    ".cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 14px; " \
    "margin-bottom: 16px; }\n" \
    ".card, section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; }\n" \
    ".card { padding: 12px 14px; min-height: 98px; }\n" \
    ".card h2, section h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .6px; color: " \
    "var(--muted);\n" \
    "  margin: 0 0 6px; font-weight: 600; }\n" \
    ".card .big { font-size: 26px; font-weight: 650; font-variant-numeric: tabular-nums; }\n" \
    ".card .big small { font-size: 14px; color: var(--muted); font-weight: 500; }\n" \
    ".card .sub { color: var(--muted); font-size: 12px; margin-top: 4px; }\n" \
    ".card canvas { width: 100%; height: 36px; display: block; margin-top: 4px; }\n" \
    "section { padding: 12px 14px; margin-bottom: 16px; }\n" \
    "section h2 { display: flex; align-items: baseline; gap: 10px; }\n" \
    "section h2 .legend { text-transform: none; letter-spacing: 0; font-weight: 400; display: flex; gap: 12px; }\n" \
    ".legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; " \
    "vertical-align: -1px; }\n" \
    "#slot-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(118px, 1fr)); gap: 8px; }\n" \
    ".slot { border-radius: 6px; padding: 7px 9px; min-height: 58px; color: #fff; font-size: 12px; }\n" \
    ".slot .idx { font-weight: 650; font-size: 13px; }\n" \
    ".slot .job { font-family: ui-monospace, Menlo, Consolas, monospace; opacity: .9; }\n" \
    ".slot.state-FREE { background: var(--free); color: var(--free-text); }\n" \
    ".slot.state-ALLOCATED { background: var(--allocated); color: #3a2a00; }\n" \
    ".slot.state-ACTIVE { background: var(--active); }\n" \
    ".slot.state-RELEASING { background: var(--releasing); }\n" \
    ".bar { position: relative; height: 8px; background: var(--bar); border-radius: 4px; overflow: hidden; " \
    "min-width: 60px; }\n" \
    ".bar > span { position: absolute; left: 0; top: 0; bottom: 0; background: var(--active); border-radius: 4px; " \
    "}\n" \
    ".bar.ok > span { background: var(--ok); } .bar.low > span { background: var(--low); } .bar.high > span { " \
    "background: var(--high); }\n" \
    ".meter { display: flex; align-items: center; gap: 8px; }\n" \
    ".meter .bar { flex: 1; }\n" \
    ".meter .bpflag { width: 18px; margin: 0; }\n" \
    ".meter .v { width: 46px; text-align: right; font-variant-numeric: tabular-nums; color: var(--muted); " \
    "font-size: 12px; }\n" \
    "table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }\n" \
    "th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; padding: 6px 8px;\n" \
    "  border-bottom: 1px solid var(--line); white-space: nowrap; }\n" \
    "td { padding: 7px 8px; border-bottom: 1px solid var(--line); vertical-align: middle; white-space: nowrap; }\n" \
    "tr:last-child td { border-bottom: none; }\n" \
    "td.num, th.num { text-align: right; }\n" \
    "td.task-name { font-weight: 600; white-space: normal; }\n" \
    "td.task-name .cause { display: block; font-weight: 400; color: var(--failed); font-size: 12px; max-width: " \
    "420px; }\n" \
    "td.job { font-family: ui-monospace, Menlo, Consolas, monospace; color: var(--muted); font-size: 12px; }\n" \
    "td.bp, td.pool { width: 150px; }\n" \
    ".pill { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 11px; font-weight: 650;\n" \
    "  letter-spacing: .3px; color: #fff; background: var(--canceled); }\n" \
    ".pill.RUNNING { background: var(--running); } .pill.FINISHED { background: var(--finished); }\n" \
    ".pill.FAILED { background: var(--failed); } .pill.CREATED, .pill.DEPLOYING, .pill.CANCELING { background: " \
    "var(--pending); }\n" \
    ".bpflag { font-size: 11px; font-weight: 650; margin-left: 6px; }\n" \
    ".bpflag.ok { color: var(--ok); } .bpflag.low { color: var(--low); } .bpflag.high { color: var(--high); }\n" \
    ".empty { color: var(--muted); padding: 18px 8px; text-align: center; }\n" \
    "code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }\n" \
    "details summary { cursor: pointer; color: var(--muted); font-size: 12px; text-transform: uppercase; " \
    "letter-spacing: .6px; font-weight: 600; }\n" \
    "#error { display: none; background: var(--high); color: #fff; padding: 8px 24px; }\n" \
    "#error.show { display: block; }\n" \
    "</style>\n"
/* clang-format on */

#endif
