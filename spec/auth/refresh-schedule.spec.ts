import { expect } from 'chai';
import { MAX_TIMER_DELAY, isServable, refreshAt, servingDeadline, timerDelay } from '../../src/auth/refresh-schedule.ts';

const token = (lifetimeMs: number) => ({ value: 't', obtainedAt: 0, expiresAt: lifetimeMs });
const minute = 60_000;

describe('refresh-schedule', () => {
  // lifetime, skew, random → refresh at, serving deadline
  const table: [string, number, number, number, number, number][] = [
    ['a one-hour token refreshes 10% early, served until skew before expiry', 60 * minute, minute, 0, 54 * minute, 59 * minute],
    ['jitter moves the refresh up to half the margin earlier', 60 * minute, minute, 0.5, 52.5 * minute, 59 * minute],
    ['a five-minute token refreshes twice the skew early', 5 * minute, minute, 0, 3 * minute, 4 * minute],
    ['a token shorter than the skew refreshes at half its life, served for three quarters', 10_000, minute, 0, 5_000, 7_500],
    ['even with maximal jitter a short token lives a quarter before refreshing', 10_000, minute, 0.999_999, 2_500, 7_500],
  ];
  for (const [behaviour, lifetime, skew, random, expectedRefresh, expectedDeadline] of table) {
    it(behaviour, () => {
      expect(refreshAt(token(lifetime), skew, () => random)).to.be.closeTo(expectedRefresh, 1);
      expect(servingDeadline(token(lifetime), skew)).to.equal(expectedDeadline);
    });
  }

  it('always starts the refresh while the old token is still served', () => {
    for (const lifetime of [1_000, 30_000, 90_000, 5 * minute, 3_600_000, 1048576_000]) {
      for (const random of [0, 0.5, 0.999]) {
        const t = token(lifetime);
        expect(refreshAt(t, minute, () => random)).to.be.below(servingDeadline(t, minute));
        expect(refreshAt(t, minute, () => random)).to.be.above(0);
      }
    }
  });

  it('serves a token only before its deadline', () => {
    expect(isServable(token(60 * minute), 59 * minute - 1, minute)).to.equal(true);
    expect(isServable(token(60 * minute), 59 * minute, minute)).to.equal(false);
  });

  it('clamps timer delays to what setTimeout can wait', () => {
    expect(timerDelay(Date.UTC(3000, 0, 1), 0)).to.equal(MAX_TIMER_DELAY);
    expect(timerDelay(10, 20)).to.equal(0);
    expect(timerDelay(30, 20)).to.equal(10);
  });
});
