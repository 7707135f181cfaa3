import bench.common
from django.test import Client
from django.db import connection
from django.test.utils import CaptureQueriesContext
from accounts.models import Account
from accounts.services import api_key_create
acc = Account.objects.get(slug="bench")
_, pk = api_key_create(account=acc, kind="publishable", name="probe")
c = Client()
url = f"/og/blog-post.png?title=Hot+probe+x&api_key={pk}"
r = c.get(url)
print(r.status_code, r.get("Content-Type"))
for i in range(3):
    with CaptureQueriesContext(connection) as q:
        r = c.get(url)
    print(i, r.status_code, len(q.captured_queries))
    for x in q.captured_queries: print("   ", x["sql"][:200])
