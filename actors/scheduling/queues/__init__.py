"""What runs next: the job queue (classes, aging, admission), the chunk queue, weighted fair share between tenants, and the preemption rule at chunk boundaries."""
