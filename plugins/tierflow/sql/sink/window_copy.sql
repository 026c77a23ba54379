copy pg_temp.sink_window (district, ordinal, watermark_from, watermark_to, inner_pad, outer_pad) from stdin
