import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/config.js';

describe('config smoke', () => {
  it('reads SaveDir', () => {
    expect(parseConfig('[retrace]\nSaveDir = /x\n', 'f').retrace.saveDir).toBe('/x');
  });
});
