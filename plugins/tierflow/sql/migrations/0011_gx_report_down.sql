drop index if exists quality.delivery_gx_pending;
alter table quality.delivery drop column gx_validated_at;
alter table quality.delivery drop column gx_success;
alter table quality.delivery drop column gx_status;
