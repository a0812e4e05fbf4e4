"""python -m sedse_models: trace every shipped model again and rewrite workloads/*.yaml
(review the diff before committing: a change there changes every number)."""

from sedse_models import write_workloads

for f in write_workloads():
    print(f"wrote {f}")
