import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileDottedGlob, compileGlob } from '../../src/util/glob.ts';
import { compilePathPattern } from '../../src/policy/http-path.ts';
import { programOf } from '../../src/policy/ssh-program.ts';

void describe('globs', () => {
  void it('plain: * any run (dots included), ? one character, everything else literal', () => {
    const g = compileGlob('*@example.com');
    assert.ok(g('alice.smith@example.com'));
    assert.ok(!g('alice@example.co'));
    assert.ok(!g('alice@exampleXcom'));
    assert.ok(compileGlob('web-?')('web-1'));
    assert.ok(!compileGlob('web-?')('web-10'));
    assert.ok(compileGlob('a+(b)')('a+(b)'));
    assert.ok(compileGlob('*')(''));
  });

  void it('dotted: * and ? stay within one dot-separated part', () => {
    const g = compileDottedGlob('public.*');
    assert.ok(g('public.orders'));
    assert.ok(!g('public.a.b'));
    assert.ok(!g('publicXorders'));
    assert.ok(compileDottedGlob('*.*')('a.b'));
    assert.ok(!compileDottedGlob('*')('a.b'));
  });

  void it('http paths', () => {
    assert.ok(compilePathPattern('/')('/'));
    assert.ok(!compilePathPattern('/')('/x'));
    assert.ok(compilePathPattern('/**')('/any/thing'));
    assert.ok(compilePathPattern('/a/**/z')('/a/z'));
    assert.ok(compilePathPattern('/a/**/z')('/a/b/c/z'));
    assert.ok(!compilePathPattern('/a/:id')('/a/'));
  });

  void it('ssh programs: the first plain word, or nothing when the line is compound', () => {
    assert.equal(programOf('ls -la'), 'ls');
    assert.equal(programOf("grep -r 'a b' ."), 'grep');
    assert.equal(programOf('ls | sh'), undefined);
    assert.equal(programOf('ls && rm x'), undefined);
    assert.equal(programOf('echo `id`'), undefined);
    assert.equal(programOf('cat > /etc/x'), undefined);
    assert.equal(programOf('"rm" -rf /'), undefined);
    assert.equal(programOf('LD_PRELOAD=x ls'), undefined);
    assert.equal(programOf('   '), undefined);
  });
});
