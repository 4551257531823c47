"""Task-script conventions, and a whole task run end to end on a tiny random checkpoint: the same seed must give the
same numbers, another seed other numbers."""
import contextlib
import importlib
import io
import json
import os

import pytest

TASKS = ['nontermination', 'mgs', 'theseus', 'logit_adjustment', 'qa_generation', 'flooding', 'weissi',
         'imbalance_losses', 'qa_extrinsic']


@pytest.mark.parametrize('name', TASKS)
def test_task_help_lists_the_shared_options(name):
    module = importlib.import_module('tasks.' + name)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as stop:
        module.main(['--help'])
    assert stop.value.code == 0
    for option in ('--quick', '--seed', '--output_dir', '--checkpoint_dir', '--config_path', '--checkpoint_path',
                   '--deterministic',
                   '--dict_path',
                   '--strategy'):
        assert option in out.getvalue(), (name, option)


def test_pretrain_help_lists_the_run_options():
    from tasks import pretrain_tiny_bert
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as stop:
        pretrain_tiny_bert.main(['--help'])
    assert stop.value.code == 0
    for option in ('--run_dir', '--steps', '--hours', '--decay_start', '--whole_word', '--export', '--seed'):
        assert option in out.getvalue(), option


def checkpoint_args(directory):
    return ['--config_path', os.path.join(directory, 'bert_config.json'),
            '--checkpoint_path', os.path.join(directory, 'bert_model.ckpt'),
            '--dict_path', os.path.join(directory, 'vocab.txt')]


@pytest.mark.parametrize('name', ['flooding', 'weissi'])
def test_task_refuses_maxlen_beyond_the_checkpoint_positions(name, tiny_dir, tmp_path):
    module = importlib.import_module('tasks.' + name)
    paths = checkpoint_args(tiny_dir)
    with pytest.raises(SystemExit) as stop:
        module.main(['--quick', '--maxlen', '33', '--output_dir', str(tmp_path)] + paths)
    assert '--maxlen 33' in str(stop.value.code) and '32 positions' in str(stop.value.code)


def test_bert_paths_from_one_directory_or_three_paths(tiny_dir, tmp_path):
    from tasks import experiment

    def paths(*argv):
        return experiment.bert_paths(experiment.parser('x', 'x').parse_args(list(argv)))

    config, ckpt, vocab = paths('--checkpoint_dir', tiny_dir)
    assert config == os.path.join(tiny_dir, 'bert_config.json') and os.path.isfile(ckpt + '.index')
    assert paths(*checkpoint_args(tiny_dir)) == (config, os.path.join(tiny_dir, 'bert_model.ckpt'), vocab)
    with pytest.raises(SystemExit, match='not both'):
        paths('--checkpoint_dir', tiny_dir, *checkpoint_args(tiny_dir))
    with pytest.raises(SystemExit, match='lacks vocab.txt'):
        os.makedirs(str(tmp_path / 'empty'))
        open(str(tmp_path / 'empty' / 'bert_config.json'), 'w').write('{}')
        paths('--checkpoint_dir', str(tmp_path / 'empty'))


class _Parsed(Exception):
    pass


@pytest.mark.parametrize('name', TASKS)
def test_every_option_has_help_and_one_default(name, monkeypatch):
    """--help used to print "(default: 3, or 1 with --quick) (default: None)" and options without any help."""
    import argparse
    seen = {}

    def capture(self, args=None, namespace=None):
        seen['parser'] = self
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, 'parse_args', capture)
    module = importlib.import_module('tasks.' + name)
    with pytest.raises(_Parsed):
        module.main([])
    parser = seen['parser']
    for action in parser._actions:
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            assert action.help, '%s %s has no help text' % (name, action.option_strings[0])
    text = parser.format_help()
    assert '(default: None)' not in text and 'base random seed (default: 0)' in text
    for block in text.split('\n  -')[1:]:
        assert block.count('(default') + block.count('default:') <= 2 and block.count('(default:') <= 1, block


def test_qa_generation_pipeline_on_a_tiny_checkpoint(tmp_path):
    """The whole article-5 pipeline (generator, reader, filter, benchmark figures, export) runs and its exported
    models load through the CLI's loaders."""
    from bert4keras_ext.checkpoints import make_tiny_checkpoint, tiny_vocab
    from bert4keras_ext.qa.generator import QAGenerator
    from bert4keras_ext.qa.reader import Reader
    from tasks import qa_generation
    from tests.conftest import TINY
    ckpt = make_tiny_checkpoint(str(tmp_path / 'ckpt'), vocab=tiny_vocab(size=40), seed=1,
                                **dict(TINY, max_position_embeddings=64))
    out = qa_generation.main(['--quick', '--checkpoint_dir', ckpt, '--output_dir', str(tmp_path / 'out'),
                              '--max_p_len', '24', '--max_a_len', '6', '--max_q_len', '8', '--reader_maxlen', '40',
                              '--synthetic', '50', '--steps', '4', '--stock_passages', '1',
                              '--export', str(tmp_path / 'assets')])
    assert out['free']['answer_validity'] == 1.0  # span-constrained, whatever the model's quality
    assert 0 <= out['answer_aware']['degenerate_share'] <= 1 and out['round_trip']['total'] > 0
    assert out['throughput']['ours_passages_per_s'] > 0 and len(out['examples']) == 6
    generator = QAGenerator.load(str(tmp_path / 'assets' / 'qa_generator'))
    reader = Reader.load(str(tmp_path / 'assets' / 'qa_reader'))
    assert generator.max_p_len == 24 and reader.maxlen == 40


def test_pretrain_table_of_a_run_log(tmp_path, capsys):
    from tasks import pretrain_tiny_bert
    log = [{'step': s, 'lr': 1e-4, 'train_loss': 5.0, 'train_acc': 0.1 * k, 'train_hours': 0.1 * k,
            'cpu_hours': 0.2 * k, 'heldout_mlm_acc': 0.05 * k, 'ood_mlm_acc': 0.04 * k}
           for k, s in enumerate([2000, 3000, 4000, 4500], 1)]
    (tmp_path / 'log.jsonl').write_text('\n'.join(json.dumps(e) for e in log) + '\n')
    assert pretrain_tiny_bert.main(['--table', '--run_dir', str(tmp_path)]) == 0
    rows = [r for r in capsys.readouterr().out.splitlines() if r.startswith('| ') and r[2].isdigit()]
    assert [r.split(' | ')[0] for r in rows] == ['| 2000', '| 4000', '| 4500']  # every 2,000 steps and the last
    assert (tmp_path / 'heldout_curve.png').stat().st_size > 1000
    with pytest.raises(SystemExit, match='no log.jsonl'):
        pretrain_tiny_bert.main(['--table', '--run_dir', str(tmp_path / 'none')])


def test_imbalance_f1_plot_has_one_panel_per_ratio_and_bars_ordered_by_mean():
    from tasks.imbalance_losses import plot_f1_per_loss
    runs = {'cross_entropy': [{'f1': 0.4}, {'f1': 0.6}], 'focal': [{'f1': 0.1}, {'f1': 0.3}],
            'weighted_ce': [{'f1': 0.7}, {'f1': 0.7}]}
    fig = plot_f1_per_loss({'1:10': {'runs': runs}, '1:50': {'runs': runs}})
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ['1:10', '1:50']
    widths = [p.get_width() for p in axes[0].patches]
    assert widths == pytest.approx([20.0, 50.0, 70.0])  # ascending: focal, cross_entropy, weighted_ce
    assert [t.get_text() for t in axes[0].get_yticklabels()] == ['focal', 'cross_entropy', 'weighted_ce']


def test_flooding_curves_plot_every_arm_of_the_seed_without_weight_decay():
    from tasks.flooding import plot_loss_curves

    def record(b=None):
        return {'chosen': {'b': b} if b is not None else {}, 'extra': {'train_loss': [0.6, 0.3]},
                'curve': [{'loss': 0.5}, {'loss': 0.7}]}
    results = {'seeds': [{'seed': 0, 'results': {'none/last': record(), 'none/early': record(),
                                                 'flooded/last': record(0.1), 'gradient penalty/last': record(),
                                                 'AdamW/last': record()}},
                         {'seed': 1, 'results': {'flooded/last': record(0.2)}}]}
    fig = plot_loss_curves(results, 0)
    labels = [line.get_label() for line in fig.get_axes()[1].get_lines()]
    assert labels == ['none', 'flooded b=0.1', 'gradient penalty']
    levels = [line.get_ydata()[0] for line in fig.get_axes()[0].get_lines() if line.get_linestyle() == ':']
    assert levels == [0.1]


def test_qa_extrinsic_control_spans_and_pairs():
    """The random-span control keeps each example's passage and answer length, its span is the passage's text at
    its start, and its question is made of the characters just before the span (the template); generated pairs
    whose answer is not at their answer_start are dropped; People's Daily passages respect their length."""
    from tasks.qa_extrinsic import pairs_of, peoples_daily_passages, random_span_control
    examples = [{'passage': '天问一号于2020年7月23日在文昌发射。', 'answer': '2020年7月23日', 'answer_start': 5,
                 'question': '天问一号何时发射？'}] * 20
    control = random_span_control(examples, seed=3)
    starts = set()
    for e, c in zip(examples, control):
        n = len(e['answer'])
        assert c['passage'] == e['passage'] and len(c['answer']) == n
        assert c['passage'][c['answer_start']:c['answer_start'] + n] == c['answer']
        before = c['passage'][max(0, c['answer_start'] - 6):c['answer_start']] or '开头'
        assert c['question'] == '“%s”后面是什么？' % before
        starts.add(c['answer_start'])
    assert len(starts) > 3  # drawn, not fixed
    assert random_span_control(examples, seed=3) == control
    records = [{'passage': '北京是中国的首都。', 'pairs': [
        {'answer': '北京', 'answer_start': 0, 'question': '中国的首都是哪里？'},
        {'answer': '首都', 'answer_start': 1, 'question': '北京是什么？'},       # wrong offset: dropped
        {'answer': '中国', 'answer_start': 3, 'question': ''}]}]              # no question: dropped
    assert pairs_of(records) == [{'passage': '北京是中国的首都。', 'question': '中国的首都是哪里？', 'answer': '北京',
                                  'answer_start': 0}]
    passages = peoples_daily_passages(5, max_len=60)
    assert len(passages) == 5 and all(0 < len(p) <= 60 for p in passages)
