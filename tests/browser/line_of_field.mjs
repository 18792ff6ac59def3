// lineOfField (web/app.js), the YAML editor's map from a Status cause's field to a line,
// on the shapes the API writes and on the ones a person may type; run by
// test_dashboard.py (node only, no browser). Exits 1 on a wrong line.
import fs from "fs";
const src = fs.readFileSync(new URL("../../web/app.js", import.meta.url), "utf8");
const fn = src.slice(src.indexOf("function lineOfField"), src.indexOf("function editLink"));
const lineOfField = new Function(fn + "; return lineOfField;")();
const text = `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r
  annotations:
    sluice.dev/workers: "2"
    note: |
      name: fake
      spec: fake
spec:
  parentRefs:
  - name: gw
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /a
    - path:
        type: Exact
        value: nope
    backendRefs:
    - name: be
  - matches:
    - path:
        value: /b
`;
const empty = "metadata:\nspec:\n  name: x\n";
const cases = [["spec.rules[0].matches[1].path.value", text, 21], ["spec.rules[1].matches[0].path.value", text, 26],
  ["spec.parentRefs[0].name", text, 13], ["spec.rules[0].backendRefs[0].name", text, 23], ["metadata.name", text, 5],
  ["metadata.annotations[sluice.dev/workers]", text, 7], ["spec", text, 11], ["metadata.name", empty, 1]];
let bad = 0;
for (const [f, t, want] of cases) { const got = lineOfField(t, f); if (got !== want) bad++; console.log(got === want ? "ok " : "BAD", f, got, want); }
process.exit(bad ? 1 : 0);
