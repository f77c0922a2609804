-- Copyright (C) tokenroute authors
--
-- Budget periods, for the scripts that run behind this text (the
-- admission and the control scripts: src/lua/embed.sh joins them), so
-- that a period is computed in one place.
--
-- The id of the period holding the unix time t, in UTC calendar terms:
-- d<days since 1970-01-01>, w<weeks since Monday 1969-12-29> (weeks
-- start on Monday 00:00; day 0 was a Thursday), m<YYYYMM> (the civil
-- date of a day number, counted in 400-year eras from March, after
-- H. Hinnant's civil_from_days); nil for any other period.

local function period_id(period, t)
  local d = math.floor(t / 86400)
  if period == 'day' then return 'd' .. d end
  if period == 'week' then return 'w' .. math.floor((d + 3) / 7) end
  if period ~= 'month' then return nil end
  local z = d + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460)
                          + math.floor(doe / 36524)
                          - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return string.format('m%04d%02d', y, m)
end
